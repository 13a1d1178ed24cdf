import type { ReindexProgress, ReindexService } from '../../reindex/index.js';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { FhirResource } from '../../store/index.js';
import type { FhirRequest, FhirResponse } from './types.js';

function parameters(p: ReindexProgress, statusUrl: string): FhirResource {
  const elapsed = ((p.finishedAt ?? new Date()).getTime() - Math.max(p.createdAt.getTime(), p.notBefore.getTime())) / 1000;
  const part = (name: string, value: Record<string, unknown>) => ({ name, ...value });
  return {
    resourceType: 'Parameters',
    parameter: [
      part('jobId', { valueString: p.jobId }),
      part('status', { valueCode: p.status }),
      part('statusUrl', { valueUri: statusUrl }),
      ...p.types.map((t) => part('type', { valueCode: t })),
      ...(p.params ?? ['*']).map((c) => part('parameter', { valueString: c })),
      part('total', { valueInteger: p.total }),
      part('processed', { valueInteger: p.processed }),
      part('progress', { valueDecimal: p.total === 0 ? 100 : Math.round((1000 * p.processed) / p.total) / 10 }),
      ...(elapsed > 0 ? [part('resourcesPerSecond', { valueDecimal: Math.round(p.processed / elapsed) })] : []),
      part('createdAt', { valueInstant: p.createdAt.toISOString() }),
      ...(p.finishedAt ? [part('finishedAt', { valueInstant: p.finishedAt.toISOString() })] : []),
    ],
  };
}

/**
 * `POST /fhir/$reindex` and `POST /fhir/[type]/$reindex` start a job reindexing every search
 * parameter of the type(s) (202, status URL in Content-Location); `GET /fhir/$reindex/[job]`
 * answers its progress as a Parameters resource: 202 while running, 200 when finished.
 */
export function createReindexOperation(service: ReindexService, authorize: (ctx: RequestContext) => void) {
  const statusUrl = (req: FhirRequest, jobId: string) => `${req.baseUrl}/$reindex/${jobId}`;
  return {
    async kickoff(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> {
      authorize(ctx);
      const type = req.path.length === 2 ? req.path[0] : undefined;
      const jobId = await service.kickoff(ctx, type ? [type] : undefined);
      return {
        status: 202,
        headers: { 'Content-Location': statusUrl(req, jobId) },
        // Like HAPI's $reindex: a Parameters resource naming the job (and here also where to poll it).
        body: {
          resourceType: 'Parameters',
          parameter: [{ name: 'jobId', valueString: jobId }, { name: 'statusUrl', valueUri: statusUrl(req, jobId) }],
        } as FhirResource,
      };
    },
    async status(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> {
      authorize(ctx);
      const jobId = req.path[1];
      if (!jobId) throw new HavenError('incorrect', 'REINDEX_INVALID', 'Name the job: GET $reindex/[job id]');
      const p = await service.status(ctx, jobId);
      const pct = p.total === 0 ? 100 : Math.floor((100 * p.processed) / p.total);
      return {
        status: p.status === 'running' ? 202 : 200,
        headers: p.status === 'running' ? { 'X-Progress': `${pct}% (${p.processed}/${p.total})` } : {},
        body: parameters(p, statusUrl(req, jobId)),
      };
    },
  };
}
