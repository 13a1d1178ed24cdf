export { createEnvelopeCodec, type EnvelopeCodec, type EnvelopeRowIdentity } from './envelope-codec.js';
export { createKeyring, type Keyring, type KeyRef, type KeyringOptions } from './keyring.js';
export { createLocalKms, type LocalKmsOptions } from './local-kms.js';
export { createPkcs11Kms, type Pkcs11KmsOptions } from './pkcs11-kms.js';
export { createBodyEncryption, createKmsFromConfig, lazyKms, type BodyEncryption } from './from-config.js';
export { rotateKek, type KekRotationResult } from './rotate.js';
export { ENVELOPE_OVERHEAD, PURPOSES, contextOf, openEnvelope, parseEnvelopeHeader, sealEnvelope, type KeyPurpose } from './envelope-format.js';
export { DEK_BYTES, dekContext, type Kms, type KmsDescription, type KekRotation } from './kms.js';
export type { SqlDb, SqlQueryable } from './data-key-store.js';
