import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type TestServer } from '../support/server.js';
import { call, createUser, putRole, seed, userToken } from './access-support.js';

/** Break-glass (alert, ETREAT audit, review) and just-in-time elevation (four eyes, expiry) over real HTTP. */
let s: TestServer;

before(async () => {
  s = await startTestServer({ HAVEN_ENV: 'test', HAVEN_BREAK_GLASS_MINUTES: '30' });
  await seed(s);
  await putRole(s, 'clerk', { policies: [{ resourceType: 'Patient', interactions: ['read', 'search'], criteria: 'organization=Organization/org1', hide: ['telecom'] }] });
  await putRole(s, 'emergency', { breakGlass: true, policies: [] });
  await putRole(s, 'approver', { approver: true, policies: [] });
  await putRole(s, 'lab', { policies: [{ resourceType: 'Observation', interactions: ['read', 'search'] }] });
});
after(async () => s?.close());

const code = (a: { body: any }) => a.body?.issue?.[0]?.details?.coding?.[0]?.code;

/** The auth audit entries (`auth.<event>`) whose outcome code is `ref` (an elevation, grant or role id). */
async function authAudit(ref: string): Promise<string[]> {
  const rows = await s.testDb.db.query<{ c: string }>("SELECT convert_from(canonical, 'UTF8') AS c FROM audit_entry WHERE action = 'login'");
  return rows.rows.filter((r) => r.c.includes(`"outcomeCode":"${ref}"`)).map((r) => /"operation":"(auth\.[a-z-]+)"/.exec(r.c)?.[1] ?? '?').sort();
}

/** Runs `fn` while the audit log cannot be written (as test/audit/http.test.ts does). */
async function withAuditDown<T>(fn: () => Promise<T>): Promise<T> {
  await s.testDb.db.query('ALTER TABLE audit_batch RENAME TO audit_batch_away');
  try {
    return await fn();
  } finally {
    await s.testDb.db.query('ALTER TABLE audit_batch_away RENAME TO audit_batch');
  }
}

test('break-glass: refused without the capability or a reason; then time-boxed access, alert, ETREAT audit, review', async () => {
  const plain = await userToken(s, await createUser(s, ['clerk']));
  assert.equal(code(await call(s, 'POST', '/auth/break-glass', plain, { reason: 'patient unconscious in ED' })), 'AUTH_BREAK_GLASS_NOT_ALLOWED');
  const doctorId = await createUser(s, ['clerk', 'emergency']);
  const doctor = await userToken(s, doctorId);
  assert.equal(code(await call(s, 'POST', '/auth/break-glass', doctor, {})), 'AUTH_REASON_REQUIRED');
  assert.equal(code(await call(s, 'POST', '/auth/break-glass', await s.token(), { reason: 'a client cannot break glass' })), 'AUTH_USER_REQUIRED');
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2', doctor)).status, 403);

  const started = await call(s, 'POST', '/auth/break-glass', doctor, { reason: 'patient unconscious in ED, no consent possible' });
  assert.equal(started.status, 201);
  assert.equal(started.body.purposeOfUse, 'ETREAT');
  const minutes = (Date.parse(started.body.expiresAt) - Date.now()) / 60000;
  assert.ok(minutes > 29 && minutes <= 30, `time-boxed to HAVEN_BREAK_GLASS_MINUTES (${minutes})`);
  const p2 = await call(s, 'GET', '/fhir/Patient/p2', doctor);
  assert.equal(p2.status, 200, 'policies are lifted');
  assert.equal(p2.body.telecom[0].value, '555-0100', 'nothing is hidden in an emergency');

  const alerts = await call(s, 'GET', '/auth/admin/alerts', await s.token());
  const alert = alerts.body.alerts.find((a: any) => a.refId === started.body.id);
  assert.equal(alert.kind, 'break-glass');
  assert.equal(alert.severity, 'high');
  assert.equal(alert.userId, doctorId);
  assert.equal((await call(s, 'GET', '/auth/admin/alerts', plain)).status, 403);
  assert.equal(code(await call(s, 'GET', '/auth/admin/alerts?status=closed', await s.token())), 'AUTH_QUERY_INVALID');
  assert.deepEqual(await authAudit(started.body.id), ['auth.break-glass'], 'the start of break-glass is audited');

  // Every access under break-glass is audited with purpose of use ETREAT.
  const events = await s.fhir(`/AuditEvent?_count=200`);
  const reads = (events.body.entry ?? []).map((e: any) => e.resource).filter((e: any) => e.agent?.some((a: any) => a.who?.identifier?.value === doctorId || a.altId === doctorId || JSON.stringify(a).includes(doctorId)));
  const etreat = reads.filter((e: any) => JSON.stringify(e.purposeOfEvent ?? []).includes('ETREAT'));
  assert.ok(etreat.length >= 1, `ETREAT on the break-glass read (found ${reads.length} events of the user)`);

  const review = await call(s, 'POST', `/auth/admin/alerts/${alert.id}/review`, await s.token(), { note: 'checked with the ED lead: justified' });
  assert.equal(review.status, 200);
  assert.ok(review.body.reviewedAt);
  assert.equal(code(await call(s, 'POST', `/auth/admin/alerts/${alert.id}/review`, await s.token(), { note: 'again' })), 'AUTH_ALERT_REVIEWED');
  const open = await call(s, 'GET', '/auth/admin/alerts', await s.token());
  assert.ok(!open.body.alerts.some((a: any) => a.id === alert.id), 'reviewed alerts leave the open queue');
  assert.deepEqual(await authAudit(alert.id), ['auth.alert-reviewed']);
});

test('JIT elevation: request, four-eyes approval, effective at once, expires by itself', async () => {
  const nurseId = await createUser(s, ['clerk']);
  const nurse = await userToken(s, nurseId);
  const approverId = await createUser(s, ['approver']);
  const approver = await userToken(s, approverId);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', nurse)).status, 403);
  assert.equal(code(await call(s, 'POST', '/auth/elevations', nurse, { role: 'lab', minutes: 5 })), 'AUTH_REASON_REQUIRED');
  assert.equal(code(await call(s, 'POST', '/auth/elevations', nurse, { role: 'nope', minutes: 5, reason: 'covering the lab shift' })), 'AUTH_ELEVATION_ROLE_UNKNOWN');
  const req = await call(s, 'POST', '/auth/elevations', nurse, { role: 'lab', minutes: 5, reason: 'covering the lab shift' });
  assert.equal(req.status, 201);
  assert.equal(req.body.status, 'pending');
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', nurse)).status, 403, 'pending grants nothing');
  assert.equal(code(await call(s, 'POST', `/auth/elevations/${req.body.id}/approve`, nurse, {})), 'AUTH_APPROVER_REQUIRED');

  // an approver cannot approve their own request
  const own = await call(s, 'POST', '/auth/elevations', approver, { role: 'lab', minutes: 5, reason: 'I want lab data too' });
  assert.equal(code(await call(s, 'POST', `/auth/elevations/${own.body.id}/approve`, approver, {})), 'AUTH_SELF_APPROVAL');

  const approved = await call(s, 'POST', `/auth/elevations/${req.body.id}/approve`, approver, { note: 'ok for today' });
  assert.equal(approved.status, 200);
  assert.equal(approved.body.decidedBy, approverId);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', nurse)).status, 200, 'effective at once');
  assert.equal(code(await call(s, 'POST', `/auth/elevations/${req.body.id}/deny`, approver, {})), 'AUTH_ELEVATION_DECIDED');

  // Expiry: move the clock of the grant into the past; the cache holds a decision at most ~2 s.
  await s.testDb.db.query(`UPDATE role_elevation SET expires_at = now() - interval '1 second' WHERE id = $1`, [req.body.id]);
  await sleep(2100);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', nurse)).status, 403, 'expired elevation grants nothing');

  const denied = await call(s, 'POST', '/auth/elevations', nurse, { role: 'lab', minutes: 5, reason: 'once more please' });
  assert.equal((await call(s, 'POST', `/auth/elevations/${denied.body.id}/deny`, approver, { note: 'no' })).body.status, 'denied');
  const deniedOnes = await call(s, 'GET', '/auth/elevations?status=denied', approver);
  assert.deepEqual(deniedOnes.body.elevations.map((e: any) => e.id), [denied.body.id]);
  assert.equal(code(await call(s, 'GET', '/auth/elevations?status=refused', approver)), 'AUTH_QUERY_INVALID', 'an unknown status is refused, not ignored');
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', nurse)).status, 403);
  const listed = await call(s, 'GET', '/auth/elevations?status=denied', approver);
  assert.ok(listed.body.elevations.some((e: any) => e.id === denied.body.id));

  // All audited: request and decision, each under the elevation's id.
  assert.deepEqual(await authAudit(req.body.id), ['auth.elevation-approved', 'auth.elevation-requested']);
  assert.deepEqual(await authAudit(denied.body.id), ['auth.elevation-denied', 'auth.elevation-requested']);
});

test('fail closed: an approval or a role change whose audit entry cannot be written does not take effect', async () => {
  const nurseId = await createUser(s, ['clerk']);
  const approver = await userToken(s, await createUser(s, ['approver']));
  const req = await call(s, 'POST', '/auth/elevations', await userToken(s, nurseId), { role: 'lab', minutes: 5, reason: 'covering the lab shift' });
  assert.equal(req.status, 201);
  const refused = await withAuditDown(() => call(s, 'POST', `/auth/elevations/${req.body.id}/approve`, approver, {}));
  assert.equal(refused.status, 503);
  // A fresh token of the nurse: its access is resolved now, from the database.
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', await userToken(s, nurseId))).status, 403, 'the unaudited approval grants nothing');
  const pending = await call(s, 'GET', '/auth/elevations?status=pending', approver);
  assert.ok(pending.body.elevations.some((e: any) => e.id === req.body.id), 'the request is still pending');
  assert.deepEqual(await authAudit(req.body.id), ['auth.elevation-requested']);
  // Once the audit log is back, the same request can be decided, and is audited.
  assert.equal((await call(s, 'POST', `/auth/elevations/${req.body.id}/approve`, approver, {})).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', await userToken(s, nurseId))).status, 200);

  // A role created, replaced or deleted without its audit entry is put back as it was.
  const before = (await call(s, 'GET', '/auth/admin/roles/lab', await s.token())).body;
  const widened = { policies: [{ resourceType: '*', interactions: ['read', 'search'] }] };
  assert.equal((await withAuditDown(() => putRole(s, 'lab', widened))).status, 503);
  assert.deepEqual((await call(s, 'GET', '/auth/admin/roles/lab', await s.token())).body, before, 'an unaudited replacement is undone');
  assert.equal((await withAuditDown(() => putRole(s, 'ghost-role', widened))).status, 503);
  assert.equal((await call(s, 'GET', '/auth/admin/roles/ghost-role', await s.token())).status, 404, 'an unaudited creation is undone');
  const adminToken = await s.token();
  assert.equal((await withAuditDown(() => call(s, 'DELETE', '/auth/admin/roles/lab', adminToken))).status, 503);
  assert.deepEqual((await call(s, 'GET', '/auth/admin/roles/lab', await s.token())).body, before, 'an unaudited deletion is undone');
});

test('break-glass page: session-authenticated form with CSRF; same grant, alert and audit as the API', async () => {
  const { createSessionStore } = await import('../../src/auth/sessions.js');
  const { DEFAULT_TENANT } = await import('../../src/kernel/index.js');
  const sessions = createSessionStore({ db: s.testDb.db, policy: { idleMs: 900_000, maxMs: 3_600_000 } });
  const signIn = async (userId: string) => {
    const anon = await sessions.create(DEFAULT_TENANT, new Date());
    return `haven_session=${(await sessions.login(DEFAULT_TENANT, anon.session, userId, true, new Date())).id}`;
  };
  const page = (cookie: string | undefined, form?: Record<string, string>) =>
    fetch(`${s.baseUrl}/auth/break-glass/page`, {
      method: form ? 'POST' : 'GET',
      headers: { ...(cookie ? { cookie } : {}), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    }).then(async (r) => ({ status: r.status, html: await r.text(), csp: r.headers.get('content-security-policy') }));

  assert.equal((await page(undefined)).status, 401);
  assert.equal((await page(await signIn(await createUser(s, ['clerk'])))).status, 403);
  const doctorId = await createUser(s, ['clerk', 'emergency']);
  const cookie = await signIn(doctorId);
  const form = await page(cookie);
  assert.equal(form.status, 200);
  assert.match(form.csp ?? '', /default-src 'none'/);
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.html)?.[1];
  assert.ok(csrf);
  assert.equal((await page(cookie, { csrf: 'forged', reason: 'unconscious patient in ED' })).status, 403);
  assert.equal((await page(cookie, { csrf, reason: 'short' })).status, 400);
  const doctor = await userToken(s, doctorId);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2', doctor)).status, 403);
  const done = await page(cookie, { csrf, reason: 'unconscious patient in ED' });
  assert.equal(done.status, 201);
  assert.match(done.html, /ETREAT/);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2', doctor)).status, 200);
  const alerts = await call(s, 'GET', '/auth/admin/alerts', await s.token());
  assert.ok(alerts.body.alerts.some((a: any) => a.userId === doctorId && a.kind === 'break-glass'));
});
