import type { TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { parseFhirContext, type FhirContextItem } from './fhir-context.js';
import { newSecret } from './secrets.js';

/** EHR launch context registered by the EHR before it opens the app with `launch=<id>`. */
export interface EhrLaunch {
  /** Patient id (no type prefix). */
  patient?: string;
  encounter?: string;
  /** SMART 2 context beyond patient and encounter (checked by parseFhirContext). */
  fhirContext?: FhirContextItem[];
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const LAUNCH_TTL_MS = 5 * 60_000;

export function createLaunchStore(deps: { db: Queryable }) {
  const { db } = deps;
  return {
    async register(tenant: TenantId, context: EhrLaunch, createdBy: string, now: Date): Promise<{ launch: string; expiresAt: Date }> {
      for (const k of ['patient', 'encounter'] as const) {
        const v: unknown = context[k];
        if (v !== undefined && (typeof v !== 'string' || !ID.test(v))) throw new TypeError(`${k} must be a FHIR id`);
      }
      // Checked again here, whoever the caller: a token must never carry a malformed fhirContext.
      const stored = context.fhirContext === undefined ? context : { ...context, fhirContext: parseFhirContext(context.fhirContext) };
      const launch = newSecret();
      const expiresAt = new Date(now.getTime() + LAUNCH_TTL_MS);
      await db.query('INSERT INTO launch_context (tenant_id, launch_id, context, created_by, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        tenant,
        launch,
        JSON.stringify(stored),
        createdBy,
        expiresAt,
      ]);
      return { launch, expiresAt };
    },
    async resolve(tenant: TenantId, launch: string, now: Date): Promise<EhrLaunch | undefined> {
      const res = await db.query<{ context: EhrLaunch }>(
        'SELECT context FROM launch_context WHERE tenant_id = $1 AND launch_id = $2 AND expires_at > $3',
        [tenant, launch, now],
      );
      return res.rows[0]?.context;
    },
  };
}

export type LaunchStore = ReturnType<typeof createLaunchStore>;
