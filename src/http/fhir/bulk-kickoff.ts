import { parametersPairs, parseKickoff, type BulkService, type ExportLevel } from '../../bulk/index.js';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import { requireId } from './checks.js';
import { outcome } from './respond.js';
import { header, type FhirRequest, type FhirResponse } from './types.js';

/** `$export`, `Patient/$export`, `Group/ID/$export` → level and group id. */
function levelOf(req: FhirRequest): { level: ExportLevel; groupId?: string } {
  const [a, b] = req.path;
  if (a === 'Patient') return { level: 'patient' };
  if (a === 'Group') return { level: 'group', groupId: requireId(b) };
  return { level: 'system' };
}

/**
 * Bulk Data kick-off (GET or POST): validates, stores the job, answers 202
 * with the absolute status URL in Content-Location. The export runs in the
 * workers; nothing is read for the client here.
 */
export function createExportKickoff(bulk: BulkService) {
  return async (ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> => {
    if (!/\brespond-async\b/.test(header(req, 'prefer') ?? '')) {
      throw new HavenError('incorrect', 'BULK_PREFER_REQUIRED', '$export runs asynchronously: send the header Prefer: respond-async');
    }
    const { level, groupId } = levelOf(req);
    const pairs = req.method === 'POST' ? [...req.query, ...parametersPairs(req.body)] : req.query;
    const input = parseKickoff(level, groupId, pairs, { lenient: /\bhandling\s*=\s*lenient\b/.test(header(req, 'prefer') ?? '') });
    const qs = req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const requestUrl = `${req.baseUrl}/${req.path.join('/')}${qs ? `?${qs}` : ''}`; // path segments are validated ids and names
    const jobId = await bulk.kickoff(ctx, input, requestUrl);
    const statusUrl = `${req.baseUrl.replace(/\/fhir$/, '')}/bulk/status/${jobId}`;
    return {
      status: 202,
      headers: { 'Content-Location': statusUrl },
      body: outcome([{ severity: 'information', code: 'informational', diagnostics: `Export started; poll ${statusUrl}` }]),
    };
  };
}

/** `$import` kick-off (POST Parameters with `input` parts): 202 and the status URL, like an export. */
export function createImportKickoff(bulk: BulkService) {
  return async (ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> => {
    if (!/\brespond-async\b/.test(header(req, 'prefer') ?? '')) {
      throw new HavenError('incorrect', 'BULK_PREFER_REQUIRED', '$import runs asynchronously: send the header Prefer: respond-async');
    }
    const base = req.baseUrl.replace(/\/fhir$/, '');
    const jobId = await bulk.kickoffImport(ctx, req.body, base, `${req.baseUrl}/$import`);
    const statusUrl = `${base}/bulk/status/${jobId}`;
    return {
      status: 202,
      headers: { 'Content-Location': statusUrl },
      body: outcome([{ severity: 'information', code: 'informational', diagnostics: `Import started; poll ${statusUrl}` }]),
    };
  };
}
