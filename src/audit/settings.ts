import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { HavenError } from '../kernel/index.js';

export interface AuditSettings {
  /** Off only in tests (HAVEN_ENV=test), to measure what auditing costs. */
  enabled: boolean;
  /** Cadence of sequencing rounds and signed tree heads (a head only when there are new entries). */
  headIntervalMs: number;
  /** Longest an audit insert may take before the PHI request fails with 503. */
  timeoutMs: number;
  /** "Where": this node's id. */
  nodeId: string;
  witnessPath: string;
}

export interface AuditSettingsInput {
  env: 'development' | 'production' | 'test';
  dataDir: string;
  enabled?: boolean;
  headIntervalMs?: number;
  timeoutMs?: number;
  nodeId?: string;
}

export function witnessPathFor(dataDir: string): string {
  return join(resolve(dataDir), 'audit', 'witness.jsonl');
}

export function auditSettings(input: AuditSettingsInput): AuditSettings {
  if (input.enabled === false && input.env !== 'test') {
    // Auditing PHI access is not optional; the switch exists only to benchmark its cost.
    throw new HavenError('incorrect', 'AUDIT_DISABLE_REFUSED', 'The audit log can be switched off only when HAVEN_ENV=test');
  }
  return {
    enabled: input.enabled ?? true,
    headIntervalMs: input.headIntervalMs ?? 1000,
    timeoutMs: input.timeoutMs ?? 5000,
    nodeId: input.nodeId ?? hostname(),
    witnessPath: witnessPathFor(input.dataDir),
  };
}
