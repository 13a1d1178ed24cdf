export { createHl7Service, type Hl7Service, type Hl7ServiceDeps } from './service.js';
export { createTxScope, type TxScope } from './tx-scope.js';
export type { ApplyTransaction, GroupLimits, IngestResult, IngestSource, MessageAudit, MoveReferences, ParseFn, TxHooks } from './types.js';
export type { Hl7Api } from './api.js';
export type { Hl7Metrics } from './metrics.js';
export type { Ingester } from './ingester.js';
export { ackCodeOf, ackModes, buildAck, sniffHeader, wanted } from './ack.js';
