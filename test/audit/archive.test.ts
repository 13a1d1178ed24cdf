import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { archiveBlobName, archiveOldEntries } from '../../src/audit/archive.js';
import { manifestName, verifyArchiveDir, verifyEntries, verifyManifest, type ArchiveManifest } from '../../src/audit/archive-verify.js';
import { createKeyring, createLocalKms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { createLocalBlobStore, keyringSealer } from '../../src/store/blob-store.js';
import { filesUnder } from '../crypto/canary-support.js';
import { auditFixture } from './support.js';
import { tempDir } from '../support/temp-dir.js';

const YEAR_MS = 365.25 * 86_400_000;

test('entries past retention are archived in segments that verify without keys, and entry by entry with them', async () => {
  const f = await auditFixture();
  const dir = tempDir('haven-archive-');
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db: f.testDb.db, kms });
  const blobs = createLocalBlobStore({ dir: join(dir, 'blobs'), sealer: keyringSealer(keyring) });
  const manifestDir = join(dir, 'archive');
  const read = (tenant: string, name: string) => blobs.read(tenant, name);
  try {
    await f.addRound(3);
    await f.addRound(4);
    await new Promise((r) => setTimeout(r, 30));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 30));
    await f.addRound(2);
    // Six calendar years after `between`: the first two rounds are past retention, the third is not.
    const sixYearsOn = new Date(between.getTime());
    sixYearsOn.setUTCFullYear(sixYearsOn.getUTCFullYear() + 6);
    const first = await archiveOldEntries(f.testDb.db, { blobs, manifestDir, now: sixYearsOn, retentionYears: 6, maxEntries: 4 });
    assert.deepEqual(first.map((m) => [m.from, m.to]), [[0, 3], [3, 7]], 'segments end at signed heads');
    assert.deepEqual(await archiveOldEntries(f.testDb.db, { blobs, manifestDir, now: sixYearsOn, retentionYears: 6 }), [], 'resumable: nothing twice');
    const later = await archiveOldEntries(f.testDb.db, { blobs, manifestDir, now: new Date(Date.now() + 7 * YEAR_MS), retentionYears: 6 });
    assert.deepEqual(later.map((m) => [m.from, m.to]), [[7, 9]]);
    const chain = verifyArchiveDir(manifestDir);
    assert.deepEqual(chain.problems, []);
    for (const m of chain.segments) assert.deepEqual(await verifyEntries(m, read), []);
    // Blobs are ciphertext: no entry text on disk.
    for (const file of filesUnder(join(dir, 'blobs'))) assert.ok(!readFileSync(file).includes(Buffer.from('Patient/p1')), `${file} holds plaintext`);

    // Tampering with a manifest is caught without keys; with a blob, entry by entry.
    const m = JSON.parse(readFileSync(join(manifestDir, manifestName(3, 7)), 'utf8')) as ArchiveManifest;
    const swapped: ArchiveManifest = { ...m, leaves: [m.leaves[1]!, m.leaves[0]!, ...m.leaves.slice(2)] };
    assert.match(verifyManifest(swapped).join('\n'), /do not reach the signed root at 7/);
    const forged: ArchiveManifest = { ...m, headTo: { ...m.headTo, timestampMs: m.headTo.timestampMs + 1 } };
    assert.match(verifyManifest(forged).join('\n'), /signature does not verify/);
    assert.match(verifyManifest(m, [Buffer.alloc(32, 7)]).join('\n'), /not a trusted key/);
    const w = await blobs.create('default', archiveBlobName(3, 7));
    await w.write(`${JSON.stringify({ seq: 3, canonical: Buffer.from('{"forged":true}').toString('base64') })}\n`);
    await w.close();
    const entryProblems = await verifyEntries(m, read);
    assert.ok(entryProblems.some((p) => /seq 3: the entry's bytes differ/.test(p)), entryProblems.join('\n'));
    assert.ok(entryProblems.some((p) => /seq 4: entry missing/.test(p)));
    rmSync(join(manifestDir, manifestName(0, 3)));
    writeFileSync(join(manifestDir, 'README'), 'not a manifest');
    assert.match(verifyArchiveDir(manifestDir).problems.join('\n'), /does not start where the previous one ended \(0\)/);
  } finally {
    await keyring.close();
    await kms.close();
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});
