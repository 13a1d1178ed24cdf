/** Minimal argument parsing: `--name value`, `--name=value`, `--flag`, positionals. */
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) options.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) options.set(arg.slice(2), argv[++i]!);
    else options.set(arg.slice(2), true);
  }
  return { positionals, options };
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function intOption(args: ParsedArgs, name: string, fallback: number): number {
  const v = stringOption(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

/**
 * The options each command reads (every subcommand's together). An option a command does not
 * know is refused rather than ignored: `audit verify --witnes PATH` must not verify without the
 * witness and say OK, nor `backup --tenat T` back up every tenant.
 */
export const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  serve: ['roles'],
  token: ['url', 'scope'],
  import: ['url'],
  export: ['url', 'type', 'since', 'type-filter', 'group', 'patients', 'out'],
  synth: ['url', 'patients', 'seed', 'concurrency'],
  reindex: ['url', 'type'],
  keys: ['kek', 'dek', 'tenant', 'purpose', 'background', 'max-batches', 'retry-failed'],
  tenant: ['yes', 'allow-default'],
  backup: ['to', 'tenant', 'out'],
  restore: ['from', 'keys-from', 'tenant'],
  audit: ['url', 'from', 'witness', 'public-key', 'skip-columns', 'parallel', 'archive', 'heads', 'sample', 'confirm', 'step', 'patient', 'format', 'since', 'until', 'out', 'tenant'],
  users: ['url', 'username', 'role', 'patient', 'totp'],
  hl7: ['url', 'id', 'all-failed', 'status', 'type', 'trigger', 'sender', 'patient', 'count', 'mllp'],
};

/** Throws naming the first option `command` does not take (`help` is always allowed). */
export function checkOptions(command: string, args: ParsedArgs): void {
  const known = COMMAND_OPTIONS[command];
  if (known === undefined) return;
  for (const name of args.options.keys()) {
    if (name !== 'help' && !known.includes(name)) {
      throw new Error(`haven ${command}: unknown option --${name} (this command takes ${known.map((k) => `--${k}`).join(', ') || 'no options'}); see haven --help`);
    }
  }
}
