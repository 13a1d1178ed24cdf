import { esc } from './html.js';

/**
 * The recovery codes, shown once (at enrolment, or when the user makes a new
 * set): a numbered list to print or write down, and the way on. The page is
 * the answer to a post and sent no-store, so a reload or the back button does
 * not show the codes again.
 */
export function recoveryCodesBody(codes: readonly string[], next: { href: string; label: string }): string {
  const items = codes.map((c) => `<li><code>${esc(c)}</code></li>`).join('\n');
  return `<h1>Save your recovery codes</h1>
<p role="status">If you lose the phone with your authenticator app, each of these codes lets you sign in once in place of a verification code.</p>
<p>Print them or write them down now and keep them somewhere safe. <strong>They are not shown again.</strong> Making a new set replaces these.</p>
<ol aria-label="Recovery codes" style="font-size:1.1rem;line-height:1.8">
${items}
</ol>
<p><a href="${esc(next.href)}">${esc(next.label)}</a></p>`;
}
