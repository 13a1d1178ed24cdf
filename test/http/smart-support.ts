import { randomBytes } from 'node:crypto';
import { pkceChallenge } from '../../src/auth/index.js';
import type { TestServer } from '../support/server.js';

/** A browser without a browser: a cookie jar and manual redirects over real HTTP. */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** Extra request headers (e.g. X-Forwarded-For), sent with every request. */
  headers: Record<string, string> = {};
  constructor(readonly baseUrl: string) {}

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }

  private header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(url: string, form?: Record<string, string | string[]>): Promise<{ status: number; location?: string; html: string; headers: Headers }> {
    const absolute = url.startsWith('http') ? url : `${this.baseUrl}${url}`;
    const body = form ? new URLSearchParams(Object.entries(form).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string]))) : undefined;
    const res = await fetch(absolute, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { ...this.headers, cookie: this.header(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body ? { body } : {}),
    });
    this.store(res);
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, html: await res.text(), headers: res.headers, ...(location ? { location } : {}) };
  }

  /** Follows redirects inside Haven; stops at the first page or at a redirect to elsewhere (the app). */
  async go(url: string, form?: Record<string, string | string[]>) {
    let res = await this.request(url, form);
    while (res.location && (res.location.startsWith('/') || res.location.startsWith(this.baseUrl))) res = await this.request(res.location);
    return res;
  }
}

export function formAction(html: string): string {
  const m = /<form method="post" action="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no form in page: ${html.slice(0, 400)}`);
  return m[1]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
}

export function csrf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)![1]!;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier) };
}

export const REDIRECT = 'http://127.0.0.1:9/callback';

export function authorizeUrl(s: TestServer, params: Record<string, string>): string {
  const q = new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT, aud: s.fhirUrl, state: 'st-1', code_challenge_method: 'S256', ...params });
  return `/auth/authorize?${q}`;
}

export async function admin(s: TestServer, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await s.token()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Turns on the tenant's `mfaRequired` setting through the admin API. */
export async function requireTenantMfa(s: TestServer): Promise<void> {
  const res = await fetch(`${s.baseUrl}/auth/admin/settings`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${await s.token()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mfaRequired: true }),
  });
  if (res.status !== 200) throw new Error(`enabling mfaRequired answered ${res.status}`);
}

export async function tokenRequest(s: TestServer, form: Record<string, string>, basic?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${s.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(basic ? { authorization: `Basic ${Buffer.from(basic).toString('base64')}` } : {}) },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export async function postForm(s: TestServer, path: string, form: Record<string, string>, basic?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(basic ? { authorization: `Basic ${Buffer.from(basic).toString('base64')}` } : {}) },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Logs in on the page the browser is at; returns the next page (or the redirect to the app). */
export async function login(b: Browser, page: { html: string }, username: string, password: string) {
  return b.go(formAction(page.html), { csrf: csrf(page.html), username, password });
}

export function codeFrom(location: string | undefined): { code: string | null; state: string | null; error: string | null } {
  const url = new URL(location ?? 'http://invalid/');
  return { code: url.searchParams.get('code'), state: url.searchParams.get('state'), error: url.searchParams.get('error') };
}
