import type { Page } from '../../auth/flow.js';
import { errorBox, esc } from './html.js';
import { qrSvg } from './qr-svg.js';

/**
 * The TOTP enrolment page: a QR code of the otpauth:// URI (scanned by the
 * authenticator app on a phone; inline SVG, so the CSP needs no img-src), the
 * same URI as a link (opens the app on the phone itself), the key in base32
 * for typing by hand (for those who cannot scan), and the code field that
 * proves the app holds it.
 */
export function enrolBody(page: Extract<Page, { step: 'enrol' }>, form: (inner: string) => string): string {
  // Groups of four, as authenticator apps show and accept them.
  const grouped = page.secret.replace(/(.{4})(?=.)/g, '$1 ');
  const describedBy = page.error ? 'form-error code-help' : 'code-help';
  return `<h1>Set up your authenticator app</h1>
<p>Your account needs a verification code from an authenticator app at every sign-in. Set it up once now to continue to <strong>${esc(page.clientName)}</strong>.</p>
${errorBox(page.error)}
<ol>
<li><p>Add this account to your authenticator app: scan this QR code with the app,</p>
<p>${qrSvg(page.uri, 'QR code of the set-up link, for your authenticator app to scan')}</p>
<p>or, on the phone that has the app, <a href="${esc(page.uri)}">open the set-up link</a>, or add it by hand:</p>
<dl>
<dt>Account</dt><dd>${esc(page.username)}</dd>
<dt>Key</dt><dd><code id="totp-secret">${esc(grouped)}</code></dd>
<dt>Type</dt><dd>time-based, 6 digits, every 30 seconds (SHA-1)</dd>
</dl>
<p>Set-up link: <code style="word-break:break-all">${esc(page.uri)}</code></p></li>
<li><p>Enter the code the app shows now.</p></li>
</ol>
${form(`<label for="code">6-digit code from your authenticator app</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required autofocus aria-describedby="${describedBy}">
<p id="code-help">The key is kept only once this code is accepted. It expires in 10 minutes if unused.</p>
<button type="submit">Verify and continue</button>`)}`;
}
