import { loadConfig } from '../config/index.js';
import { stringOption, type ParsedArgs } from './args.js';
import { fetchToken, readBootstrap } from './client.js';

/**
 * `haven users add`: creates a user through the running server's admin API.
 * The password comes from stdin (piped) or a prompt that does not echo; never
 * from argv, which other local users can read in the process list.
 */
export const USERS_HELP = `haven users add --username NAME --role ROLE[,ROLE…] [--patient Patient/ID] [--totp] [--url URL]
  Reads the password from stdin (or prompts). Admin roles always enrol TOTP; the otpauth:// URI is printed once.
  Also prints the ten recovery codes of that authenticator once (each replaces one TOTP code, once).
haven users reset-totp --username NAME [--url URL]
  Removes the user's authenticator and recovery codes, ends their sign-in sessions and revokes their tokens
  (refused at once); they enrol a new one at the next sign-in.
haven users disable --username NAME [--url URL]
  Disables the account: no sign-in; sessions end and tokens are revoked (refused at once).
haven users enable --username NAME [--url URL]
  Re-enables it; revoked tokens stay revoked.`;

async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(value);
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          return reject(new Error('cancelled'));
        }
        value = ch === '\u007f' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPiped();
  const first = await prompt('Password: ');
  const again = await prompt('Repeat password: ');
  if (first !== again) throw new Error('The passwords differ');
  return first;
}

interface UserActionBody {
  userId?: string;
  sessionsEnded?: number;
  grantsRevoked?: number;
  issue?: Array<{ diagnostics?: string }>;
}

/** One admin API call on a user (audited there) named by --username. */
async function userAction(args: ParsedArgs, baseUrl: string, method: string, path: (user: string) => string, failed: string): Promise<{ username: string; body: UserActionBody }> {
  const username = stringOption(args, 'username');
  if (!username) throw new Error(`--username is required\n${USERS_HELP}`);
  const creds = await readBootstrap(loadConfig().dataDir);
  const { token } = await fetchToken(baseUrl, creds, 'system/*.rs');
  const res = await fetch(`${baseUrl}${path(encodeURIComponent(username))}`, { method, headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as UserActionBody;
  if (res.status !== 200) throw new Error(`${failed} (${res.status}): ${body.issue?.[0]?.diagnostics ?? ''}`);
  return { username, body };
}

const cutOff = (b: UserActionBody) => `${b.sessionsEnded ?? 0} session(s) ended, ${b.grantsRevoked ?? 0} grant(s) with their tokens revoked`;

/** `haven users reset-totp`: the admin API's reset, for a lost or replaced phone. */
async function resetTotp(args: ParsedArgs, baseUrl: string): Promise<number> {
  const { username, body } = await userAction(args, baseUrl, 'DELETE', (u) => `/auth/admin/users/${u}/totp`, 'Authenticator not reset');
  console.log(`reset the authenticator of ${username} (${body.userId ?? '?'}); ${cutOff(body)}; a new one is enrolled at the next sign-in`);
  return 0;
}

/** `haven users disable|enable`: a leaver or a compromised account; enabling revives no old token. */
async function setDisabled(args: ParsedArgs, baseUrl: string, disable: boolean): Promise<number> {
  const action = disable ? 'disable' : 'enable';
  const { username, body } = await userAction(args, baseUrl, 'POST', (u) => `/auth/admin/users/${u}/${action}`, `User not ${action}d`);
  console.log(disable ? `disabled ${username} (${body.userId ?? '?'}); ${cutOff(body)}` : `enabled ${username} (${body.userId ?? '?'}); they sign in anew`);
  return 0;
}

export async function usersCommand(args: ParsedArgs, baseUrl: string): Promise<number> {
  if (args.positionals[1] === 'reset-totp') return resetTotp(args, baseUrl);
  if (args.positionals[1] === 'disable' || args.positionals[1] === 'enable') return setDisabled(args, baseUrl, args.positionals[1] === 'disable');
  if (args.positionals[1] !== 'add') {
    console.error(USERS_HELP);
    return 64;
  }
  const username = stringOption(args, 'username');
  const roles = (stringOption(args, 'role') ?? '').split(',').filter(Boolean);
  if (!username || roles.length === 0) throw new Error(`--username and --role are required\n${USERS_HELP}`);
  const patient = stringOption(args, 'patient');
  const password = await readPassword();
  const creds = await readBootstrap(loadConfig().dataDir);
  const { token } = await fetchToken(baseUrl, creds, 'system/*.rs');
  const res = await fetch(`${baseUrl}/auth/admin/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, roles, ...(patient ? { patient } : {}), totp: args.options.has('totp') }),
  });
  const body = (await res.json()) as { userId?: string; totpUri?: string; recoveryCodes?: string[]; issue?: Array<{ diagnostics?: string }> };
  if (res.status !== 201) throw new Error(`User not created (${res.status}): ${body.issue?.[0]?.diagnostics ?? ''}`);
  console.log(`created user ${username} (${body.userId ?? '?'})`);
  // Shown once: the secret is stored encrypted and never answered again.
  if (body.totpUri) console.log(`TOTP enrolment (add to an authenticator app now): ${body.totpUri}`);
  if (body.recoveryCodes?.length) console.log(`Recovery codes (give to the user; each replaces one TOTP code once):\n${body.recoveryCodes.map((c) => `  ${c}`).join('\n')}`);
  return 0;
}
