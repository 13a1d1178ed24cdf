/**
 * How resource bodies become bytes at rest. The ONE place resource content is
 * encoded and decoded: envelope encryption (encryption issue) replaces the
 * plaintext codec here, with the row identity as associated data.
 */
export interface RowIdentity {
  tenant: string;
  resourceType: string;
  id: string;
  versionId: number;
}

export interface BodyCodec {
  encode(identity: RowIdentity, json: string): Buffer | Promise<Buffer>;
  decode(identity: RowIdentity, bytes: Buffer): string | Promise<string>;
}

/** Development/default codec: UTF-8 JSON. */
export const plaintextCodec: BodyCodec = {
  encode: (_identity, json) => Buffer.from(json, 'utf8'),
  decode: (_identity, bytes) => bytes.toString('utf8'),
};
