import { loadConfig } from '../config/index.js';
import { stringOption, type ParsedArgs } from './args.js';
import { readBootstrap } from './client.js';
import { runExport } from './export.js';

/** `haven export` options → a Bulk Data kick-off. */
export async function exportCommand(args: ParsedArgs, baseUrl: string): Promise<number> {
  const group = stringOption(args, 'group');
  const path = group ? `Group/${encodeURIComponent(group)}/$export` : args.options.has('patients') ? 'Patient/$export' : '$export';
  const query: [string, string][] = [];
  const type = stringOption(args, 'type');
  if (type) query.push(['_type', type]);
  const since = stringOption(args, 'since');
  if (since) query.push(['_since', since]);
  const filter = stringOption(args, 'type-filter');
  if (filter) query.push(['_typeFilter', filter]);
  const creds = await readBootstrap(loadConfig().dataDir);
  const result = await runExport(baseUrl, creds, { path, query, outDir: stringOption(args, 'out') ?? './export' });
  console.log(`exported ${result.resources} resources in ${result.files} files (transactionTime ${result.transactionTime})`);
  return 0;
}
