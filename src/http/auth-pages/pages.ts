import type { Page } from '../../auth/flow.js';
import { parseScope } from '../../auth/scopes.js';
import { enrolBody } from './enrol.js';
import { errorBox, esc, hidden, layout } from './html.js';
import { ACCOUNT_PAGE } from '../account-paths.js';
import { recoveryCodesBody } from './recovery.js';

/** Server-rendered pages of the sign-in flow: one form each, labelled fields, errors announced. */
type FormPage = Extract<Page, { request: string }>;

function form(page: FormPage, basePath: string, action: string, inner: string): string {
  const describedBy = page.error ? ' aria-describedby="form-error"' : '';
  return `<form method="post" action="${esc(basePath)}/auth/flow/${action}?request=${esc(encodeURIComponent(page.request))}"${describedBy}>
${hidden('csrf', page.csrf)}
${inner}
</form>`;
}

const permissionWords: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** A scope as a sentence for the approval screen. */
export function describeScope(raw: string): string {
  const s = parseScope(raw);
  if (s) {
    const verbs = [...s.permissions].map((p) => permissionWords[p]).join(', ');
    const what = s.resourceType === '*' ? 'all record types' : `${s.resourceType} records`;
    const whose = s.context === 'patient' ? 'of the patient in context' : 'you can access';
    return `${verbs} ${what} ${whose}${s.query ? ` (only ${s.query})` : ''}`;
  }
  const fixed: Record<string, string> = {
    openid: 'know who you are (sign-in)',
    fhirUser: 'know your record (FHIR user)',
    profile: 'know your profile',
    offline_access: 'keep access after you sign out (until revoked)',
    online_access: 'keep access while you are signed in',
    launch: 'receive the launch context from the EHR',
    'launch/patient': 'know which patient is in context',
    'launch/encounter': 'know which encounter is in context',
  };
  return fixed[raw] ?? raw;
}

function consent(page: Extract<Page, { step: 'consent' }>, basePath: string): string {
  const resource = page.scopes.filter((s) => parseScope(s));
  const other = page.scopes.filter((s) => !parseScope(s));
  const boxes = resource
    .map((s, i) => `<div><input type="checkbox" name="scope" value="${esc(s)}" id="scope-${i}" checked> <label for="scope-${i}" style="display:inline;font-weight:400">${esc(describeScope(s))} <code>${esc(s)}</code></label></div>`)
    .join('\n');
  const list = other.map((s) => `<li>${esc(describeScope(s))} <code>${esc(s)}</code></li>`).join('');
  return layout(
    'Approve access',
    `<h1>Allow ${esc(page.clientName)}?</h1>
<p>Signed in as <strong>${esc(page.username)}</strong>${page.patient ? `; patient <strong>${esc(page.patient)}</strong>` : ''}.</p>
${errorBox(page.error)}
${form(
  page,
  basePath,
  'consent',
  `${resource.length ? `<fieldset><legend>The app asks to (untick what you do not allow)</legend>${boxes}</fieldset>` : ''}
${list ? `<p>It will also:</p><ul>${list}</ul>` : ''}
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>`,
)}
<p><a href="${esc(`${basePath}${ACCOUNT_PAGE}`)}">Your account</a> (recovery codes)</p>`,
  );
}

/** `basePath`: the path of HAVEN_BASE_URL ('' at the root), put before every Haven path in the page. */
export function renderPage(page: Page, basePath = ''): string {
  switch (page.step) {
    case 'error':
      return layout('Sign-in problem', `<h1>Sign-in problem</h1><p role="alert">${esc(page.message)}</p>`);
    case 'login':
      return layout(
        'Sign in',
        `<h1>Sign in</h1><p>to continue to <strong>${esc(page.clientName)}</strong></p>
${errorBox(page.error)}
${form(
  page,
  basePath,
  'login',
  `<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>`,
)}${page.federation ? `\n<p>or</p>\n${page.federation.map((p) => form(page, basePath, 'federated', `${hidden('provider', p.id)}<button type="submit">Sign in with ${esc(p.name)}</button>`)).join('\n')}` : ''}`,
      );
    case 'mfa':
      return layout(
        'Verification code',
        `<h1>Verification code</h1>
${errorBox(page.error)}
${form(
  page,
  basePath,
  'mfa',
  `<label for="code">6-digit code from your authenticator app</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required autofocus>
<button type="submit">Verify</button>`,
)}
<h2>Lost your authenticator?</h2>
${form(
  page,
  basePath,
  'mfa',
  `<label for="recovery">Recovery code</label>
<input type="text" id="recovery" name="recovery" autocomplete="off" autocapitalize="none" spellcheck="false" required aria-describedby="recovery-help">
<p id="recovery-help">One of the codes you saved when you set up the app (for example <code>abcd-efgh-jkmn-pqrs</code>). Each works once.</p>
<button type="submit">Use recovery code</button>`,
)}`,
      );
    case 'recovery-codes':
      return layout('Save your recovery codes', recoveryCodesBody(page.codes, { href: `${basePath}${page.next}`, label: `I have saved them: continue to ${page.clientName}` }));
    case 'enrol':
      return layout('Set up your authenticator app', enrolBody(page, (inner) => form(page, basePath, 'enrol', inner)));
    case 'patient':
      return layout(
        'Choose a patient',
        `<h1>Choose a patient</h1><p><strong>${esc(page.clientName)}</strong> needs a patient in context.</p>
${errorBox(page.error)}
${form(
  page,
  basePath,
  'patient',
  `<label for="patient">Patient id</label><input type="text" id="patient" name="patient" required autofocus>
<button type="submit">Continue</button>`,
)}`,
      );
    case 'consent':
      return consent(page, basePath);
  }
}
