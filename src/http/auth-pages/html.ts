import type { FastifyReply } from 'fastify';

/** Escapes text for HTML element content and double-quoted attribute values. */
export function esc(value: string): string {
  return value.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page frame: no scripts, no external resources, so the CSP can forbid
 * everything but inline styles and same-origin form posts.
 */
export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(title)} · Haven</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#111}
label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem}
.error{border:2px solid #b00020;padding:.75rem;color:#b00020}
fieldset{margin-top:1rem}
:focus{outline:3px solid #1a5fb4;outline-offset:2px}
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export function errorBox(error: string | undefined): string {
  return error ? `<p class="error" role="alert" id="form-error">${esc(error)}</p>` : '';
}

export function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`;
}

/**
 * The Content-Security-Policy of a page. Browsers apply form-action to the
 * redirects that follow a form post too, so a page whose form ends in a
 * redirect elsewhere (consent → the app's redirect_uri, "sign in with…" →
 * the identity provider) names that origin, and only that one.
 */
export function pageCsp(formTargets: readonly string[] = []): string {
  const targets = formTargets.filter((o) => /^https?:\/\/[A-Za-z0-9.\-[\]:]+$/.test(o));
  return `default-src 'none'; style-src 'unsafe-inline'; form-action ${["'self'", ...targets].join(' ')}; frame-ancestors 'none'; base-uri 'none'`;
}

/** The Content-Security-Policy of pages whose forms stay on Haven. */
export const PAGE_CSP = pageCsp();

/** Sends a server-rendered page with the sign-in pages' hardening: no caching, strict CSP, no framing, no referrer. */
export function sendPage(reply: FastifyReply, status: number, title: string, body: string) {
  return reply
    .code(status)
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache')
    .header('Content-Security-Policy', PAGE_CSP)
    .header('X-Frame-Options', 'DENY')
    .header('Referrer-Policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(layout(title, body));
}
