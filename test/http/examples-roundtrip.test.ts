import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isFhirId } from '../../src/kernel/index.js';
import { loadExamples } from '../fhir/validation/example-files.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Acceptance: every example of HL7's official R4 package (non-conformance
 * resources and the entries of its example Bundles) is created through the
 * REST API and read back equal to what was sent, ignoring meta.versionId and
 * meta.lastUpdated. The ones validation rejects must be exactly the known,
 * verified defects listed in known-invalid-examples.json.
 */
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.close();
});

const knownInvalid = JSON.parse(
  readFileSync(new URL('../../../test/fhir/validation/known-invalid-examples.json', import.meta.url), 'utf8'),
) as Record<string, string>;

function withoutServerMeta(resource: Record<string, unknown>): Record<string, unknown> {
  const { meta, ...rest } = resource as { meta?: Record<string, unknown> };
  if (!meta) return rest;
  const { versionId: _v, lastUpdated: _l, ...kept } = meta;
  return Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest;
}

test('every HL7 R4 example is stored and read back unchanged', { timeout: 600_000 }, async () => {
  const examples = loadExamples();
  assert.ok(examples.length > 1000, `expected over 1000 examples, got ${examples.length}`);
  const rejected: Record<string, string> = {};
  const mismatched: string[] = [];
  const token = await s.token();
  let auditEvents = 0;
  for (const { name, resource } of examples) {
    const type = resource.resourceType as string;
    if (type === 'AuditEvent') {
      // AuditEvent is a view of Haven's own tamper-evident log: client writes are refused (405).
      const refused = await s.fhir('/AuditEvent', { method: 'POST', json: resource, token });
      assert.equal(refused.status, 405, name);
      auditEvents++;
      continue;
    }
    const id = typeof resource.id === 'string' && isFhirId(resource.id) ? resource.id : undefined;
    const write = id
      ? await s.fhir(`/${type}/${id}`, { method: 'PUT', json: resource, token })
      : await s.fhir(`/${type}`, { method: 'POST', json: resource, token });
    if (write.status === 422) {
      rejected[name] = (write.body.issue as { diagnostics: string }[]).map((i) => i.diagnostics).join('; ');
      continue;
    }
    assert.ok(write.status === 200 || write.status === 201, `${name}: ${write.status} ${JSON.stringify(write.body).slice(0, 300)}`);
    const read = await s.fhir(`/${type}/${write.body.id}`, { token });
    assert.equal(read.status, 200, name);
    const sent = withoutServerMeta(id ? resource : { ...resource, id: write.body.id });
    try {
      assert.deepEqual(withoutServerMeta(read.body), sent);
    } catch {
      mismatched.push(name);
    }
  }
  assert.deepEqual(mismatched, [], `read back differs for: ${mismatched.join(', ')}`);
  assert.ok(auditEvents > 0, 'the AuditEvent examples were tried');
  assert.deepEqual(Object.keys(rejected).sort(), Object.keys(knownInvalid).sort(), `rejected: ${JSON.stringify(rejected, null, 1)}`);
});
