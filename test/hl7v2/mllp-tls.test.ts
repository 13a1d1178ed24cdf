import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectMllp } from '../../src/hl7v2/mllp/index.js';
import { msa, sample, startHl7Harness, testConverter, variant, type Hl7Harness } from './mllp-support.js';

/** A CA, a server certificate for 127.0.0.1 and a client certificate (CN lab-sender), made with openssl. */
function makePki(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=haven-test-ca');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn, ext] of [['server', '127.0.0.1', ['-extfile', 'san.ext']], ['client', 'lab-sender', []]] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...ext);
  }
}

describe('MLLP over TLS with client certificates', () => {
  let h: Hl7Harness;
  let dir: string;
  const file = (n: string) => readFileSync(join(dir, n));
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haven-mllp-tls-'));
    makePki(dir);
    h = await startHl7Harness(testConverter(), {
      HAVEN_MLLP_TLS_CERT: join(dir, 'server.pem'),
      HAVEN_MLLP_TLS_KEY: join(dir, 'server.key'),
      HAVEN_MLLP_TLS_CA: join(dir, 'ca.pem'),
    });
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a sender with a certificate from the CA, and audits its writes under the certificate name', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort, tls: { ca: file('ca.pem'), cert: file('client.pem'), key: file('client.key') } });
    const ack = await c.send(variant(sample('ADT-A01-01.hl7'), 'TLS-1', 'P-TLS-1'));
    c.close();
    assert.equal(msa(ack).code, 'AA');
    const who = await h.testDb.db.query<{ subject: string }>("SELECT DISTINCT subject FROM audit_entry WHERE action IN ('create', 'update')");
    assert.deepEqual(who.rows.map((r) => r.subject), ['mllp:cert:lab-sender']);
  });

  it('refuses a sender without a client certificate', async () => {
    await assert.rejects(async () => {
      const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort, tls: { ca: file('ca.pem') } });
      await c.send(variant(sample('ADT-A01-01.hl7'), 'TLS-2', 'P-TLS-2'), 5000);
    });
    const r = await h.testDb.db.query("SELECT 1 FROM hl7v2_message WHERE control_id = 'TLS-2'");
    assert.equal(r.rowCount, 0);
  });

  it('refuses plain TCP on the TLS port', async () => {
    await assert.rejects(async () => {
      const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
      await c.send(variant(sample('ADT-A01-01.hl7'), 'TLS-3', 'P-TLS-3'), 5000);
    });
  });
});
