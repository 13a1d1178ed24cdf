import { randomUUID } from 'node:crypto';
import { scopeAllows, scopeAllowsAny } from '../auth/index.js';
import { HavenError, type RequestContext } from '../kernel/index.js';
import type { BulkDeps } from './deps.js';
import { listFiles, loadJob } from './job-store.js';
import { fetchManifest, isAllowedOrigin } from './import-source.js';
import { IMPORT_QUEUE, type BulkSettings, type ImportPayload } from './model.js';

interface Part {
  name?: unknown;
  valueCode?: unknown;
  valueString?: unknown;
  valueUri?: unknown;
  valueUrl?: unknown;
  part?: Part[];
}

const bad = (message: string) => new HavenError('incorrect', 'BULK_BAD_PARAMETER', message, { expression: ['input'] });
const text = (p: Part | undefined) => [p?.valueUrl, p?.valueUri, p?.valueCode, p?.valueString].find((v): v is string => typeof v === 'string');

type Input = { type: string; url: string };

function checked(inputs: { type?: string | undefined; url?: string | undefined }[]): Input[] {
  if (inputs.length === 0) throw bad('$import needs at least one input (type and url)');
  return inputs.map((i) => {
    if (!i.type || !i.url) throw bad('Each input needs a type and a url');
    return { type: i.type, url: i.url };
  });
}

/**
 * The inputs of a $import body: a Parameters resource with `input` parts
 * ({type, url}) or a `manifestUrl`, or a Bulk Data export manifest itself
 * (its `output` entries).
 */
export async function importInputs(body: unknown, settings: BulkSettings): Promise<Input[]> {
  const b = body as { resourceType?: unknown; parameter?: unknown; output?: unknown } | undefined;
  if (b && b.resourceType === undefined && Array.isArray(b.output)) {
    return checked((b.output as { type?: unknown; url?: unknown }[]).map((o) => ({ type: typeof o?.type === 'string' ? o.type : undefined, url: typeof o?.url === 'string' ? o.url : undefined })));
  }
  if (b?.resourceType !== 'Parameters' || !Array.isArray(b.parameter)) throw bad('A $import body must be a Parameters resource or an export manifest');
  const params = b.parameter as Part[];
  const format = text(params.find((p) => p.name === 'inputFormat'));
  if (format !== undefined && !['application/fhir+ndjson', 'application/ndjson', 'ndjson'].includes(format)) throw bad(`inputFormat ${format} is not supported`);
  const manifestUrl = text(params.find((p) => p.name === 'manifestUrl'));
  const inputs = params.filter((p) => p.name === 'input').map((p) => ({ type: text(p.part?.find((x) => x.name === 'type')), url: text(p.part?.find((x) => x.name === 'url')) }));
  if (manifestUrl !== undefined) {
    if (inputs.length > 0) throw bad('Give either manifestUrl or input parts, not both');
    return checked(await fetchManifest(settings, manifestUrl));
  }
  return checked(inputs);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * An input is either a file of a completed export of this Haven started by the
 * same client (NDJSON already in the encrypted blob store), or an NDJSON file
 * on an allow-listed origin, pulled when the task runs. Anything else is refused:
 * outbound calls go only where the operator allowed them.
 */
async function resolveInput(deps: BulkDeps, ctx: RequestContext, baseUrl: string, input: Input): Promise<ImportPayload> {
  const m = new RegExp(`^${escape(baseUrl)}/bulk/files/([0-9a-f-]{36})/(\\d{1,9})$`).exec(input.url);
  if (!m && isAllowedOrigin(deps.settings.importAllowedOrigins, input.url)) return { type: input.type, url: input.url };
  const job = m ? await loadJob(deps.db, ctx.tenant, m[1]!) : undefined;
  if (!m || !job || job.clientId !== ctx.principal.clientId || job.status !== 'complete') {
    throw bad(`input ${input.url} is neither a file of a completed export of this client on this server nor on an allowed import origin (HAVEN_IMPORT_ALLOWED_ORIGINS)`);
  }
  const file = (await listFiles(deps.db, ctx.tenant, job.jobId)).find((f) => f.seq === Number(m[2]) && f.kind === 'output');
  if (!file) throw bad(`input ${input.url} does not exist`);
  if (file.resource_type !== input.type) throw bad(`input ${input.url} holds ${file.resource_type}, not ${input.type}`);
  return { type: input.type, url: input.url, blob: file.blob_name };
}

/** $import kick-off: validates every input and the write scopes, then queues one task per input. */
export async function startImport(deps: BulkDeps, ctx: RequestContext, body: unknown, baseUrl: string, requestUrl: string): Promise<string> {
  // Refused before the body is read: a token that can write nothing (a user's, a patient's, a read-only
  // client's) gets 403, never a validation answer, and never makes Haven fetch a manifest for it.
  if (!scopeAllowsAny(ctx.principal, 'create')) {
    throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', 'Bulk import needs a backend-services token with system/ write scopes');
  }
  const payloads: ImportPayload[] = [];
  for (const input of await importInputs(body, deps.settings)) {
    if (!deps.fhir.isResourceType(input.type)) throw bad(`Unknown resource type: ${input.type}`);
    if (!scopeAllows(ctx.principal, input.type, 'create') || !scopeAllows(ctx.principal, input.type, 'update')) {
      throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', `The granted scopes do not permit writing ${input.type}`);
    }
    payloads.push(await resolveInput(deps, ctx, baseUrl, input));
  }
  const jobId = randomUUID();
  await deps.db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO bulk_job (tenant_id, job_id, client_id, subject, status, level, request_url, params, transaction_time)
       VALUES ($1, $2, $3, $4, 'running', 'import', $5, $6, $7)`,
      [ctx.tenant, jobId, ctx.principal.clientId, ctx.principal.subject, requestUrl, JSON.stringify({ level: 'import', types: [], typeFilters: [], warnings: [] }), deps.clock.now()],
    );
    await deps.queue.enqueue(tx, ctx.tenant, IMPORT_QUEUE, jobId, payloads.map((payload, i) => ({ seq: i + 1, payload })));
  });
  deps.nudge();
  return jobId;
}
