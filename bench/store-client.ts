/**
 * A connection to a store an earlier `bench/run.ts` loaded, with what the benches that compare statements on
 * it need beside the connection: the FHIR definitions, the server's blind-index tags for protected values
 * (blind-tags.ts) and the backend's pid for its CPU time (cpu-meter.ts).
 */
import pg from 'pg';
import { createFhirDefinitions, type FhirDefinitions } from '../src/fhir/index.js';
import { createQueryBlinder, type QueryBlinder } from './blind-tags.js';

export interface StoreClient {
  db: pg.Client;
  /** The backend serving `db`. */
  pid: number;
  fhir: FhirDefinitions;
  blinder: QueryBlinder;
  close(): Promise<void>;
}

export async function openStoreClient(dataDir: string, databaseUrl: string): Promise<StoreClient> {
  const fhir = createFhirDefinitions();
  const blinder = await createQueryBlinder(dataDir, databaseUrl);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const pid = (await db.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
  await db.query('SET statement_timeout = 0');
  return {
    db,
    pid,
    fhir,
    blinder,
    async close() {
      await db.end();
      await blinder.close();
    },
  };
}
