import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildApp } from '../../src/app/build.js';
import { buildMllpListener, type Hl7Parts } from '../../src/app/hl7v2.js';
import { loadConfig } from '../../src/config/index.js';
import type { Hl7Converter } from '../../src/hl7v2/index.js';
import { HavenError, DEFAULT_TENANT, silentLogger } from '../../src/kernel/index.js';
import { ensureBootstrapClient } from '../../src/auth/index.js';
import { fetchToken, readBootstrap } from '../../src/cli/client.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { freePort } from '../support/server.js';

export const SAMPLES_DIR = resolve(process.cwd(), '../shared/data/hl7v2-fhir-converter/messages');

export function sample(name: string): string {
  return readFileSync(join(SAMPLES_DIR, name), 'utf8');
}

export function sampleNames(): string[] {
  return readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.hl7')).sort();
}

/** Field n of a segment line (MSH counts MSH-1 as the separator). */
function setField(line: string, n: number, value: (old: string) => string): string {
  const parts = line.split('|');
  const i = line.startsWith('MSH') ? n - 1 : n;
  while (parts.length <= i) parts.push('');
  parts[i] = value(parts[i]!);
  return parts.join('|');
}

/**
 * A sample with its own MSH-10 and patient id (first PID-3 repetition, first
 * component); segments joined by CR. MSH-15/16 are cleared (original
 * acknowledgment mode) unless given.
 */
export function variant(text: string, controlId: string, patientId: string, extra: { msh15?: string; msh16?: string } = {}): string {
  return text
    .split(/\r\n|\r|\n/)
    .filter((l) => l.length > 0)
    .map((line) => {
      if (line.startsWith('MSH')) {
        let l = setField(line, 10, () => controlId);
        l = setField(l, 15, () => extra.msh15 ?? '');
        l = setField(l, 16, () => extra.msh16 ?? '');
        return l;
      }
      if (line.startsWith('PID')) {
        return setField(line, 3, (old) => {
          const reps = old.split('~');
          const comps = reps[0]!.split('^');
          comps[0] = patientId;
          reps[0] = comps.join('^');
          return reps.join('~');
        });
      }
      // Visit and order numbers are identities too: one visit per patient, one order per message.
      if (line.startsWith('PV1')) return setField(line, 19, () => `V-${patientId}`);
      if (line.startsWith('ORC') || line.startsWith('OBR')) return setField(setField(line, 2, () => `PO-${controlId}`), 3, () => `FO-${controlId}`);
      return line;
    })
    .join('\r');
}

/**
 * The test's converter (the declarative one is a colleague's): a conditional
 * update of the Patient named by PID-3, and a Provenance pointing at it and
 * at the message. `strict.on` makes messages without PID-5 fail (a "template
 * bug" that a later fix and replay resolve).
 */
export function testConverter(strict = { on: false }): Hl7Converter {
  return {
    convert({ message, messageId }) {
      const value = message.get('PID-3.1');
      if (!value) throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', 'PID-3 (patient identifier) is required');
      const family = message.get('PID-5.1');
      if (strict.on && !family) throw new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', 'PID-5 (patient name) is required by this template');
      const system = 'urn:haven-test:patient';
      const fullUrl = `urn:uuid:${randomUUID()}`;
      const patient = { resourceType: 'Patient', identifier: [{ system, value }], ...(family ? { name: [{ family: family.trim() || 'x' }] } : {}) };
      return {
        bundle: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl, resource: patient, request: { method: 'PUT', url: `Patient?identifier=${encodeURIComponent(`${system}|${value}`)}` } },
            {
              resource: {
                resourceType: 'Provenance',
                target: [{ reference: fullUrl }],
                recorded: new Date().toISOString(),
                agent: [{ who: { display: 'HL7 v2 ingestion (test converter)' } }],
                entity: [{ role: 'source', what: { identifier: { system: 'urn:haven:hl7v2-message', value: messageId } } }],
              },
              request: { method: 'POST', url: 'Provenance' },
            },
          ],
        },
        patientIdentifiers: [`${system}|${value}`],
        warnings: [],
      };
    },
  };
}

export interface Hl7Harness {
  testDb: TestDb;
  app: ReturnType<typeof buildApp>;
  baseUrl: string;
  dataDir: string;
  mllpPort: number;
  token(scope?: string): Promise<string>;
  count(type: string): Promise<number>;
  close(): Promise<void>;
}

/** Haven's HTTP app and MLLP listener on a throwaway database, free ports, the given converter. */
export async function startHl7Harness(converter: Hl7Converter, env: Record<string, string> = {}, parts: Omit<Hl7Parts, 'converter'> = {}): Promise<Hl7Harness> {
  const testDb = await createTestDb();
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-hl7-'));
  const port = await freePort();
  const config = loadConfig({ HAVEN_PORT: String(port), HAVEN_DATA_DIR: dataDir, HAVEN_MLLP_PORT: '0', ...env });
  const baseUrl = `http://127.0.0.1:${port}`;
  const app = buildApp({ config, db: testDb.db, logger: silentLogger, baseUrl, tenant: DEFAULT_TENANT, ready: () => testDb.db.ping(), hl7: { converter, ...parts } });
  await ensureBootstrapClient({ db: testDb.db, tenant: DEFAULT_TENANT, dir: dataDir, tokenUrl: `${baseUrl}/auth/token` });
  await app.http.listen({ host: '127.0.0.1', port });
  const listener = buildMllpListener(config, app.hl7, DEFAULT_TENANT, silentLogger);
  const { port: mllpPort } = await listener.listen();
  const creds = await readBootstrap(dataDir);
  return {
    testDb,
    app,
    baseUrl,
    dataDir,
    mllpPort,
    token: async (scope = 'system/*.cruds') => (await fetchToken(baseUrl, creds, scope)).token,
    async count(type) {
      const r = await testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM resource WHERE tenant_id = $1 AND resource_type = $2 AND NOT deleted', [DEFAULT_TENANT, type]);
      return Number(r.rows[0]!.n);
    },
    async close() {
      await listener.close(1000);
      await app.http.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** MSA-1 and MSA-2 of an ACK. */
export function msa(ack: string): { code: string; controlId: string; text: string } {
  const line = ack.split('\r').find((l) => l.startsWith('MSA')) ?? '';
  const [, code = '', controlId = '', text = ''] = line.split('|');
  return { code, controlId, text };
}
