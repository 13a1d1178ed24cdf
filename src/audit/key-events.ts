import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { asTenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { buildEntry, type AuditedContext } from './entry.js';
import { insertEntries } from './insert.js';

/**
 * Key operations (DEK rotation, re-encryption finished, retired-key
 * destruction, crypto-shredding, backup, restore, KEK rotation, use of the
 * tree-head signing key) as audit entries: action
 * `operation`, the operation name, and the keys touched as `DataKey`
 * resources (`purpose/vN`), never key material. Written in the caller's
 * transaction when given one, so the operation and its record commit together.
 */
export interface KeyOperation {
  tenant: string;
  operation:
    | 'keys-rotate-dek'
    | 'keys-rotate-kek'
    | 'keys-reencrypt-done'
    | 'keys-destroy-retired'
    | 'tenant-shred'
    | 'backup'
    | 'restore'
    // The tree-head signing key (signing-key.ts): created wrapped, legacy plaintext wrapped,
    // unwrapped for a sequencer's leadership term, re-wrapped by a KEK rotation.
    | 'audit-signing-key-create'
    | 'audit-signing-key-wrap'
    | 'audit-signing-key-unwrap'
    | 'audit-signing-key-rewrap';
  /** Who ran it: the OS user for the CLI, the token subject for the admin API. */
  actor: string;
  keys: string[];
  outcome?: 'success' | 'failure';
}

export async function recordKeyOperation(q: Queryable, op: KeyOperation): Promise<void> {
  const ctx: AuditedContext = {
    tenant: asTenantId(op.tenant),
    principal: { subject: op.actor, clientId: 'haven-cli', kind: 'system', scopes: [] },
    requestId: randomUUID(),
    audit: { action: 'operation', operation: op.operation, resources: [], recorded: 0 },
  };
  const resources = (op.keys.length > 0 ? op.keys : ['*']).map((id) => ({ type: 'DataKey', id }));
  await insertEntries(q, [buildEntry(ctx, hostname(), new Date(), { action: 'operation', outcome: op.outcome ?? 'success', resources })]);
}
