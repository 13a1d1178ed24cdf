import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { URI } from 'otpauth';
import type { BrowserContext, Page, Response } from 'playwright-core';
import { requiredHere } from '../support/ci.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin } from '../http/smart-support.js';
import { bundleAvailable, startSmartApp, type SmartApp } from './smart-app-server.js';

/**
 * The real SMART JS client (fhirclient, browser bundle) in a real browser
 * (headless Debian chromium): standalone launch from another site, password
 * sign-in, TOTP, scope approval, token exchange by fetch (CORS) and a Patient
 * read with the bearer token (CORS preflight). Skips without chromium, unless
 * HAVEN_REQUIRE_CHROMIUM=1 (.ci/run) or CI=true, where a missing browser fails.
 */
const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'a browser-typed passphrase';
// Generous: CI machines run many test files at once.
const STEP_MS = 60_000;
const SCOPE = 'openid fhirUser launch/patient offline_access patient/Patient.rs patient/Observation.rs';

function skipReason(): string | undefined {
  const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} is not installed (apt-get install chromium)` : !bundleAvailable() ? 'the fhirclient bundle is not installed' : undefined;
  if (missing && requiredHere('HAVEN_REQUIRE_CHROMIUM')) throw new Error(`HAVEN_REQUIRE_CHROMIUM=1 or CI=true, but ${missing}`);
  return missing;
}

async function openBrowser(profile: string): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** What went wrong in the page, for the assertion message (console errors, refused requests). */
function recorder(page: Page): () => string {
  const lines: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && lines.push(`console: ${m.text()}`)));
  page.on('requestfailed', (r) => void lines.push(`failed: ${r.method()} ${r.url().split('?')[0]} ${r.failure()?.errorText ?? ''}`));
  return () => lines.join('\n');
}

const skip = skipReason();

describe('fhirclient standalone launch in headless chromium', { ...(skip ? { skip } : {}) }, () => {
  let s: TestServer;
  let app: SmartApp;
  let context: BrowserContext;
  let profile: string;
  let patientId: string;
  let totpUri: string;

  before(async () => {
    s = await startTestServer();
    app = await startSmartApp({ iss: s.fhirUrl, clientId: 'pulse-browser', scope: SCOPE });
    const patient = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ given: ['Ada', 'Maria'], family: 'Lovelace' }] } });
    patientId = patient.body.id;
    const client = await admin(s, '/auth/admin/clients', { clientId: 'pulse-browser', name: 'Pulse', scopes: SCOPE, redirectUris: [app.redirectUri] });
    assert.equal(client.status, 201, JSON.stringify(client.body));
    const user = await admin(s, '/auth/admin/users', { username: 'ada', password: PASSWORD, roles: ['patient'], patient: `Patient/${patientId}`, totp: true });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    totpUri = user.body.totpUri;
    profile = mkdtempSync(join(tmpdir(), 'haven-chromium-'));
    context = await openBrowser(profile);
  });
  after(async () => {
    await context?.close();
    await app?.close();
    await s?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('signs in with password and TOTP, approves, exchanges the code and reads the Patient through the client', async () => {
    const page = await context.newPage();
    const problems = recorder(page);
    const authorizeRequest = page.waitForRequest((r) => r.url().startsWith(`${s.baseUrl}/auth/authorize?`));
    await page.goto(`${app.origin}/launch.html`);
    // fhirclient read the discovery document across origins and sent the browser to Haven.
    await page.waitForURL((u) => u.origin === s.baseUrl && u.pathname === '/auth/flow', { timeout: STEP_MS }).catch((e: Error) => {
      throw new Error(`${e.message}\n${problems()}`);
    });
    const asked = new URL((await authorizeRequest).url()).searchParams;
    assert.equal(asked.get('aud'), s.fhirUrl);
    assert.equal(asked.get('code_challenge_method'), 'S256');
    await page.fill('#username', 'ada');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    // Each step is a new page at the same URL: wait for what that page must contain.
    await page.locator('#code').waitFor({ timeout: STEP_MS });
    assert.match(await page.content(), /Verification code/, 'TOTP is asked for an enrolled user');
    await page.fill('#code', URI.parse(totpUri).generate());
    await page.click('button[type=submit]');
    await page.locator('button[value=approve]').waitFor({ timeout: STEP_MS });
    assert.match(await page.content(), /patient\/Observation\.rs/, 'the approval page lists the scopes');

    const tokenResponse = page.waitForResponse((r) => r.url() === `${s.baseUrl}/auth/token`, { timeout: STEP_MS });
    await page.click('button[value=approve]');
    const token: Response = await tokenResponse.catch((e: Error) => {
      throw new Error(`${e.message}\n${problems()}`);
    });
    assert.equal(token.status(), 200);
    const headers = token.headers();
    assert.equal(headers['access-control-allow-origin'], '*');
    assert.equal(headers['cache-control'], 'no-store');
    const body = (await token.json()) as Record<string, unknown>;
    assert.equal(body['patient'], patientId, 'the token response carries the patient context');
    assert.equal(body['token_type'], 'Bearer');
    assert.deepEqual(String(body['scope']).split(' ').sort(), SCOPE.split(' ').sort());

    const status = page.locator('#status');
    await status.filter({ hasNotText: 'working' }).waitFor({ timeout: STEP_MS });
    const shown = {
      status: await status.textContent(),
      name: await page.textContent('#name'),
      patient: await page.textContent('#patient'),
      error: await page.textContent('#error'),
    };
    assert.equal(shown.status, 'done', `${shown.error ?? ''}\n${problems()}`);
    assert.equal(shown.name, 'Ada Maria Lovelace');
    assert.equal(shown.patient, `${patientId} ${patientId}`);
    assert.equal(new URL(page.url()).origin, app.origin, 'the app ends on its own origin');
  });
});
