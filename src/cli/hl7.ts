import { readFile } from 'node:fs/promises';
import { SERVER_ROLES, type ServerRole } from '../app/server.js';
import { connectMllp } from '../hl7v2/mllp/index.js';
import { stringOption, type ParsedArgs } from './args.js';
import { fetchToken, readBootstrap } from './client.js';

export const HL7_HELP = `  hl7 replay --id ID | --all-failed
                             Reprocess dead-letter (failed) HL7 v2 messages on the running server,
                             e.g. after fixing a template; prints the outcome of each
  hl7 list [--status S] [--type T] [--patient ID] [--count N]
                             List stored HL7 v2 messages (metadata only; status received, processed,
                             failed or rejected)
  hl7 send FILE [--mllp HOST:PORT]
                             Send one HL7 v2 message or a batch file (FHS/BHS … BTS/FTS): over MLLP
                             when --mllp is given, else through POST /hl7v2/messages; prints the
                             acknowledgment(s); exits 2 unless every one is AA/CA`;

/** `--roles api,mllp` of `haven serve` (default: both). */
export function parseRoles(value: string | undefined): ServerRole[] {
  if (value === undefined) return [...SERVER_ROLES];
  const roles = value.split(',').map((r) => r.trim()).filter(Boolean);
  const bad = roles.filter((r) => !SERVER_ROLES.includes(r as ServerRole));
  if (bad.length > 0 || roles.length === 0) throw new Error(`--roles: expected a comma-separated list of ${SERVER_ROLES.join(', ')}; got '${value}'`);
  return roles as ServerRole[];
}

async function api(baseUrl: string, dataDir: string, method: string, path: string, body?: { type: string; data: Buffer }): Promise<{ status: number; json: Record<string, unknown> }> {
  const { token } = await fetchToken(baseUrl, await readBootstrap(dataDir), 'system/*.cruds');
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': body.type } : {}) },
    ...(body ? { body: body.data } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 400) {
    const issue = (json['issue'] as { diagnostics?: string }[] | undefined)?.[0];
    throw new Error(`${method} ${path} failed (${res.status}): ${issue?.diagnostics ?? 'see the server log'}`);
  }
  return { status: res.status, json };
}

async function replay(args: ParsedArgs, baseUrl: string, dataDir: string): Promise<number> {
  const id = stringOption(args, 'id');
  if (id) {
    const { json } = await api(baseUrl, dataDir, 'POST', `/hl7v2/messages/${encodeURIComponent(id)}/$replay`);
    console.log(`${id}: ${String(json['status'])}${json['error'] ? ` (${String(json['error'])})` : ''}`);
    return json['status'] === 'processed' ? 0 : 2;
  }
  if (!args.options.has('all-failed')) throw new Error('haven hl7 replay: give --id ID or --all-failed');
  const { json } = await api(baseUrl, dataDir, 'POST', '/hl7v2/$replay');
  console.log(`replayed ${String(json['replayed'])} failed messages: ${String(json['processed'])} processed, ${String(json['failed'])} still failing`);
  return json['failed'] === 0 ? 0 : 2;
}

async function list(args: ParsedArgs, baseUrl: string, dataDir: string): Promise<number> {
  const q = new URLSearchParams();
  for (const k of ['status', 'type', 'trigger', 'sender', 'patient']) {
    const v = stringOption(args, k);
    if (v) q.set(k, v);
  }
  q.set('_count', stringOption(args, 'count') ?? '50');
  const { json } = await api(baseUrl, dataDir, 'GET', `/hl7v2/messages?${q.toString()}`);
  for (const m of json['messages'] as Record<string, unknown>[]) {
    console.log([m['id'], m['receivedAt'], m['status'], `${String(m['type'])}^${String(m['trigger'])}`, m['controlId'], m['sender'], m['errorCode'] ?? ''].join('\t'));
  }
  return 0;
}

async function send(args: ParsedArgs, baseUrl: string, dataDir: string): Promise<number> {
  const file = args.positionals[2];
  if (!file) throw new Error('haven hl7 send FILE: give the message file');
  const data = await readFile(file);
  const target = stringOption(args, 'mllp');
  let ack: string;
  if (target) {
    const [host, port] = target.includes(':') ? [target.slice(0, target.lastIndexOf(':')), target.slice(target.lastIndexOf(':') + 1)] : ['127.0.0.1', target];
    const client = await connectMllp({ host: host || '127.0.0.1', port: Number(port) });
    try {
      ack = await client.send(data);
    } finally {
      client.close();
    }
  } else {
    const { json } = await api(baseUrl, dataDir, 'POST', '/hl7v2/messages', { type: 'x-application/hl7-v2+er7', data });
    ack = String(json['ack'] ?? '');
    if (json['batch'] === true) console.error(`batch of ${(json['messages'] as unknown[]).length} message(s): ${JSON.stringify(json['ackCodes'])}`);
    else console.error(`stored as ${String(json['id'] ?? '-')} (${String(json['status'])})`);
  }
  console.log(ack.replace(/\r/g, '\n'));
  return allAccepted(ack) ? 0 : 2;
}

/** Every MSA of the answer (one, or one per message of a batch) says AA or CA. */
function allAccepted(ack: string): boolean {
  const codes = ack.split(/\r\n|\r|\n/).filter((l) => l.startsWith('MSA')).map((l) => l.split(l[3] ?? '|')[1]);
  return codes.length > 0 && codes.every((c) => c === 'AA' || c === 'CA');
}

export async function hl7Command(args: ParsedArgs, baseUrl: string, dataDir: string): Promise<number> {
  const sub = args.positionals[1];
  if (sub === 'replay') return replay(args, baseUrl, dataDir);
  if (sub === 'list') return list(args, baseUrl, dataDir);
  if (sub === 'send') return send(args, baseUrl, dataDir);
  throw new Error(`haven hl7: expected replay, list or send\n${HL7_HELP}`);
}
