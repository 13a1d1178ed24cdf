import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMAND_OPTIONS } from '../../src/cli/args.js';
import { HELP, main } from '../../src/cli/main.js';

// A mistyped option must stop the command: `audit verify --witnes PATH` would otherwise verify
// without the witness and report OK, `backup --tenat T` back up every tenant.

test('an option the command does not take is refused with exit 64, before anything runs', async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (m: unknown) => void errors.push(String(m));
  try {
    assert.equal(await main(['audit', 'verify', '--witnes', '/tmp/w.jsonl']), 64);
    assert.equal(await main(['backup', '--tenat', 'acme', '--to', '/tmp/nowhere']), 64);
    assert.equal(await main(['token', '--scope=system/*.rs', '--urll', 'http://x']), 64);
  } finally {
    console.error = original;
  }
  assert.match(errors[0]!, /unknown option --witnes/);
  assert.match(errors[0]!, /--witness/, 'names what the command takes');
  assert.match(errors[1]!, /unknown option --tenat/);
});

test('every option --help documents for a command is one it takes', () => {
  // HELP lists each command at two spaces' indent, its options on the same and the following lines.
  let command: string | undefined;
  const documented = new Map<string, Set<string>>();
  for (const line of HELP.split('\n')) {
    const head = /^ {2}([a-z][a-z0-9]*)\b/.exec(line);
    if (head) command = head[1] === 'restore' ? 'restore' : head[1];
    if (!command || !(command in COMMAND_OPTIONS)) continue;
    // `backup … | restore --from …` documents both on one line.
    for (const part of line.split(/\| (?=restore\b)/)) {
      const which = part.trimStart().startsWith('restore') ? 'restore' : command;
      for (const m of part.matchAll(/--([a-z][a-z-]*)/g)) {
        if (!documented.has(which)) documented.set(which, new Set());
        documented.get(which)!.add(m[1]!);
      }
    }
  }
  assert.ok(documented.size >= 10, `options found for ${documented.size} commands`);
  for (const [command, options] of documented) {
    for (const o of options) assert.ok(COMMAND_OPTIONS[command]!.includes(o), `haven ${command} --${o} is documented but refused`);
  }
});
