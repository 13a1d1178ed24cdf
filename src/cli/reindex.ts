import { loadConfig } from '../config/index.js';
import { stringOption, type ParsedArgs } from './args.js';
import { createFhirClient, readBootstrap, type FhirClient } from './client.js';

type Part = { name: string; valueString?: string; valueCode?: string; valueInteger?: number; valueDecimal?: number };

function parts(body: unknown): Map<string, Part> {
  const list = (body as { parameter?: Part[] } | undefined)?.parameter ?? [];
  return new Map(list.map((p) => [p.name, p]));
}

async function waitForJob(client: FhirClient, jobId: string, report: (line: string) => void): Promise<Map<string, Part>> {
  for (;;) {
    const res = await client.request('GET', `/$reindex/${jobId}`);
    if (res.status !== 200 && res.status !== 202) throw new Error(`reindex status answered ${res.status}: ${JSON.stringify(res.body)}`);
    const p = parts(res.body);
    report(`reindex ${jobId}: ${p.get('status')?.valueCode} ${p.get('processed')?.valueInteger ?? 0}/${p.get('total')?.valueInteger ?? 0}`);
    if (res.status === 200) return p;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** `haven reindex [--type T]`: starts a reindex of every search parameter of T (all types) and waits for it. */
export async function reindexCommand(args: ParsedArgs, serverUrl: string): Promise<number> {
  const client = createFhirClient(serverUrl, await readBootstrap(loadConfig().dataDir), 'system/*.cruds');
  const type = stringOption(args, 'type');
  if (type !== undefined && !/^[A-Z][A-Za-z]+$/.test(type)) throw new Error('haven reindex --type T: T is a resource type');
  const start = await client.request('POST', type ? `/${type}/$reindex` : '/$reindex');
  const jobId = parts(start.body).get('jobId')?.valueString;
  if (start.status !== 202 || !jobId) throw new Error(`$reindex answered ${start.status}: ${JSON.stringify(start.body)}`);
  const result = await waitForJob(client, jobId, (line) => console.error(line));
  const rate = result.get('resourcesPerSecond')?.valueDecimal;
  console.log(`reindex ${result.get('status')?.valueCode}: ${result.get('processed')?.valueInteger ?? 0} resources${rate !== undefined ? ` (${rate}/s)` : ''}`);
  return result.get('status')?.valueCode === 'completed' ? 0 : 2;
}
