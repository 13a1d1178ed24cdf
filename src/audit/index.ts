export { createAuditService, type AuditApi, type AuditDeps, type AuditService } from './audit.js';
export { auditSettings, witnessPathFor, type AuditSettings, type AuditSettingsInput } from './settings.js';
export type { AuditHttpHooks, FailedRequest, TokenEvent } from './http-hooks.js';
export type { AuditAction, AuditEntry, AuditedContext, AuditResourceRef } from './entry.js';
export { verifyAuditLog, type VerifyOptions, type VerifyReport } from './verify.js';
export { verifyConsistency, verifyEntryInclusion, verifyInclusion } from './proof-verify.js';
export { leafHash, nodeHash, rootOf } from './merkle.js';
export { createSequencer, type Sequencer } from './sequencer.js';
export { verifyTreeHead, publicKeyFromRaw, type SignedTreeHead } from './tree-head.js';
