/**
 * The one interface every key-management backend implements. The KEK never
 * leaves the backend: Haven hands it a plaintext DEK and stores what comes
 * back. Adapters must never log key material.
 */
export interface KmsDescription {
  /** Adapter kind: 'local', 'pkcs11', … */
  provider: string;
  /** Identifies the KEK that `wrap` currently uses (stored with each wrapped DEK). Not secret. */
  kekId: string;
  /** Human-readable, non-secret detail for logs and `haven keys status`. */
  detail: string;
}

export interface Kms {
  /**
   * Wraps a plaintext DEK under the current KEK. The result names that KEK, so unwrap finds it after
   * rotation. `context` (see `dekContext`) is authenticated with it: a wrapped DEK copied to another
   * tenant's or purpose's row does not unwrap there.
   */
  wrap(plaintextDek: Buffer, context: Buffer): Promise<Buffer>;
  /** Unwraps a DEK wrapped by this backend under the current or a retired KEK, for the same context. */
  unwrap(wrapped: Buffer, context: Buffer): Promise<Buffer>;
  describe(): KmsDescription;
  /** Prepares a new KEK; DEKs are re-wrapped with `rotation.wrap`, then `commit` makes it current. */
  beginRotation(): Promise<KekRotation>;
  close(): Promise<void>;
}

export interface KekRotation {
  /** kekId of the new KEK. */
  kekId: string;
  wrap(plaintextDek: Buffer, context: Buffer): Promise<Buffer>;
  /** Makes the new KEK current; the old one is kept (retired) so old backups stay readable. */
  commit(): Promise<void>;
  /**
   * The rotation failed. The new KEK is kept (not destroyed): a lost COMMIT acknowledgement
   * could mean DEKs are wrapped by it. It stays findable by id; it does not become current.
   */
  abort(): Promise<void>;
}

export const DEK_BYTES = 32;

/** What a wrapped DEK is bound to: its tenant and purpose (associated data of the wrap). */
export function dekContext(tenant: string, purpose: string): Buffer {
  return Buffer.from(`haven-dek:v1|${tenant.length}:${tenant}|${purpose}`, 'utf8');
}

/**
 * What a wrapped non-DEK secret (e.g. the audit log's tree-head signing key)
 * is bound to: its purpose and id. A different prefix from `dekContext`, so a
 * wrapped DEK can never be unwrapped as such a secret, nor the other way round.
 */
export function secretContext(purpose: string, id: string): Buffer {
  return Buffer.from(`haven-secret:v1|${purpose.length}:${purpose}|${id}`, 'utf8');
}
