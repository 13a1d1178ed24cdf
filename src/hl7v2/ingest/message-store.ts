import type { Db, Queryable } from '../../store/index.js';
import type { BodyCodec } from '../../store/index.js';

/**
 * The HL7 v2 message store (table hl7v2_message, migration 004). Bodies are
 * encrypted through the same codec as resource bodies, under the identity
 * (tenant, 'Hl7v2Message', id, 1): ciphertext moved to another row does not
 * decrypt. Bytes are kept exactly as received (latin1 round trip of the raw
 * bytes, so 8859/1 and UTF-8 messages both come back byte for byte).
 */
export type MessageStatus = 'received' | 'processed' | 'failed' | 'rejected';

export interface MessageMeta {
  id: string;
  channel: string;
  sender: string;
  controlId: string | null;
  type: string | null;
  trigger: string | null;
  version: string | null;
  status: MessageStatus;
  ackCode: string | null;
  ack: string | null;
  errorCode: string | null;
  error: string | null;
  bytes: number;
  attempts: number;
  replays: number;
  receivedAt: Date;
  processedAt: Date | null;
}

export interface NewMessage {
  id: string;
  channel: string;
  sender: string;
  controlId?: string;
  type?: string;
  trigger?: string;
  version?: string;
  patientKeys: string[];
  status: 'received' | 'rejected';
  raw: Buffer;
  receivedAt: Date;
  ackCode?: string;
  ack?: string;
  errorCode?: string;
  error?: string;
}

/** A message stored already processed, in the transaction of its FHIR result (group commit). */
export interface ProcessedRow {
  id: string;
  channel: string;
  sender: string;
  controlId: string;
  type: string;
  trigger: string;
  version: string;
  patientKeys: string[];
  raw: Buffer;
  receivedAt: Date;
  ack: string;
}

export interface MessageQuery {
  type?: string;
  trigger?: string;
  sender?: string;
  status?: MessageStatus;
  /** Blind-index key of a `system|value` patient identifier. */
  patientKey?: string;
  since?: Date;
  /** Keyset paging: rows received before this one. */
  before?: { receivedAt: Date; id: string };
  count: number;
}

export interface MessageStore {
  /** Inserts; on a duplicate (tenant, sender, control id) returns the existing row instead. */
  insert(tenant: string, m: NewMessage): Promise<{ inserted: true } | { inserted: false; existing: MessageMeta }>;
  get(tenant: string, id: string, q?: Queryable): Promise<MessageMeta | undefined>;
  raw(tenant: string, id: string): Promise<Buffer | undefined>;
  list(tenant: string, query: MessageQuery): Promise<MessageMeta[]>;
  /** Locks the row in `tx` and returns its status (undefined when missing). */
  lock(tx: Queryable, tenant: string, id: string): Promise<MessageStatus | undefined>;
  /**
   * In `tx`: takes the per-patient advisory locks (`lockKeys` sorted, so two
   * groups never deadlock), then inserts the rows as processed with their AA,
   * in one statement. Returns the ids inserted: a row whose sender and control
   * id are already stored is not.
   */
  insertProcessed(tx: Queryable, tenant: string, lock: { space: number; keys: string[] }, rows: ProcessedRow[], now: Date): Promise<Set<string>>;
  markProcessed(tx: Queryable, tenant: string, id: string, r: { ack: string; patientKeys: string[]; now: Date }): Promise<void>;
  markFailed(tenant: string, id: string, r: { ack: string; errorCode: string; error: string; patientKeys: string[]; now: Date }): Promise<void>;
  countReplay(tenant: string, id: string): Promise<void>;
  /** Ids with this status, oldest first. */
  idsWithStatus(tenant: string, status: MessageStatus, limit: number): Promise<string[]>;
}

const COLUMNS = `id, channel, sender, control_id, message_type, trigger_event, version, status, ack_code, ack,
  error_code, error, body_bytes, attempts, replays, received_at, processed_at`;

interface Row {
  id: string;
  channel: string;
  sender: string;
  control_id: string | null;
  message_type: string | null;
  trigger_event: string | null;
  version: string | null;
  status: MessageStatus;
  ack_code: string | null;
  ack: string | null;
  error_code: string | null;
  error: string | null;
  body_bytes: number;
  attempts: number;
  replays: number;
  received_at: Date;
  processed_at: Date | null;
}

function toMeta(r: Row): MessageMeta {
  return {
    id: r.id,
    channel: r.channel,
    sender: r.sender,
    controlId: r.control_id,
    type: r.message_type,
    trigger: r.trigger_event,
    version: r.version,
    status: r.status,
    ackCode: r.ack_code,
    ack: r.ack,
    errorCode: r.error_code,
    error: r.error,
    bytes: r.body_bytes,
    attempts: r.attempts,
    replays: r.replays,
    receivedAt: r.received_at,
    processedAt: r.processed_at,
  };
}

const identity = (tenant: string, id: string) => ({ tenant, resourceType: 'Hl7v2Message', id, versionId: 1 });

const INSERT = `INSERT INTO hl7v2_message (tenant_id, id, channel, sender, control_id, message_type, trigger_event, version,
    patient_keys, status, ack_code, ack, error_code, error, body, body_bytes, received_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
  ON CONFLICT (tenant_id, sender, control_id) WHERE status <> 'rejected' AND control_id IS NOT NULL DO NOTHING`;

export function createMessageStore(db: Db, codec: BodyCodec): MessageStore {
  const get: MessageStore['get'] = async (tenant, id, q = db) => {
    const res = await q.query<Row>(`SELECT ${COLUMNS} FROM hl7v2_message WHERE tenant_id = $1 AND id = $2`, [tenant, id]);
    return res.rows[0] ? toMeta(res.rows[0]) : undefined;
  };
  return {
    get,
    async insert(tenant, m) {
      const body = await codec.encode(identity(tenant, m.id), m.raw.toString('latin1'));
      const res = await db.query(INSERT, [
        tenant, m.id, m.channel, m.sender, m.controlId ?? null, m.type ?? null, m.trigger ?? null, m.version ?? null,
        m.patientKeys, m.status, m.ackCode ?? null, m.ack ?? null, m.errorCode ?? null, m.error ?? null, body, m.raw.length, m.receivedAt,
      ]);
      if (res.rowCount === 1) return { inserted: true };
      const existing = await db.query<Row>(
        `SELECT ${COLUMNS} FROM hl7v2_message WHERE tenant_id = $1 AND sender = $2 AND control_id = $3 AND status <> 'rejected'`,
        [tenant, m.sender, m.controlId],
      );
      return { inserted: false, existing: toMeta(existing.rows[0]!) };
    },
    async raw(tenant, id) {
      const res = await db.query<{ body: Buffer }>('SELECT body FROM hl7v2_message WHERE tenant_id = $1 AND id = $2', [tenant, id]);
      const row = res.rows[0];
      if (!row) return undefined;
      return Buffer.from(await codec.decode(identity(tenant, id), row.body), 'latin1');
    },
    async list(tenant, query) {
      const where = ['tenant_id = $1'];
      const params: unknown[] = [tenant];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (query.type) add('message_type = ?', query.type);
      if (query.trigger) add('trigger_event = ?', query.trigger);
      if (query.sender) add('sender = ?', query.sender);
      if (query.status) add('status = ?', query.status);
      if (query.patientKey) add('patient_keys @> ARRAY[?]::text[]', query.patientKey);
      if (query.since) add('received_at >= ?', query.since);
      if (query.before) {
        params.push(query.before.receivedAt, query.before.id);
        where.push(`(received_at, id) < ($${params.length - 1}, $${params.length})`);
      }
      params.push(query.count);
      const sql = `SELECT ${COLUMNS} FROM hl7v2_message WHERE ${where.join(' AND ')} ORDER BY received_at DESC, id DESC LIMIT $${params.length}`;
      return (await db.query<Row>(sql, params)).rows.map(toMeta);
    },
    async lock(tx, tenant, id) {
      const res = await tx.query<{ status: MessageStatus }>('SELECT status FROM hl7v2_message WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [tenant, id]);
      return res.rows[0]?.status;
    },
    async insertProcessed(tx, tenant, lock, rows, now) {
      const bodies = await Promise.all(rows.map((m) => codec.encode(identity(tenant, m.id), m.raw.toString('latin1'))));
      const params: unknown[] = [tenant, lock.space, lock.keys, now];
      const values = rows.map((m, i) => {
        const base = params.length;
        params.push(m.id, m.channel, m.sender, m.controlId, m.type, m.trigger, m.version, m.patientKeys, m.ack, bodies[i], m.raw.length, m.receivedAt);
        const p = (k: number) => `$${base + k}`;
        return `(${p(1)}::uuid, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}::text[], ${p(9)}, ${p(10)}::bytea, ${p(11)}::int, ${p(12)}::timestamptz)`;
      });
      const res = await tx.query<{ id: string }>(
        `WITH l AS MATERIALIZED (SELECT count(pg_advisory_xact_lock($2::int, hashtext(k))) AS n
             FROM (SELECT k FROM unnest($3::text[]) WITH ORDINALITY AS u(k, o) ORDER BY o) s)
         INSERT INTO hl7v2_message (tenant_id, id, channel, sender, control_id, message_type, trigger_event, version,
             patient_keys, status, ack_code, ack, body, body_bytes, attempts, received_at, processed_at, updated_at)
           SELECT $1, v.id, v.ch, v.sender, v.cid, v.ty, v.tr, v.ver, v.pk, 'processed', 'AA', v.ack, v.body, v.bytes, 1, v.at, $4, $4
             FROM (VALUES ${values.join(', ')}) AS v(id, ch, sender, cid, ty, tr, ver, pk, ack, body, bytes, at), l
             WHERE l.n >= 0
           ON CONFLICT (tenant_id, sender, control_id) WHERE status <> 'rejected' AND control_id IS NOT NULL DO NOTHING
           RETURNING id`,
        params,
      );
      return new Set(res.rows.map((r) => r.id));
    },
    async markProcessed(tx, tenant, id, r) {
      await tx.query(
        `UPDATE hl7v2_message SET status = 'processed', ack_code = 'AA', ack = $3, error_code = NULL, error = NULL, patient_keys = $4,
           attempts = attempts + 1, processed_at = $5, updated_at = $5 WHERE tenant_id = $1 AND id = $2`,
        [tenant, id, r.ack, r.patientKeys, r.now],
      );
    },
    async markFailed(tenant, id, r) {
      await db.query(
        `UPDATE hl7v2_message SET status = 'failed', ack_code = 'AE', ack = $3, error_code = $4, error = $5,
           patient_keys = CASE WHEN cardinality($6::text[]) > 0 THEN $6 ELSE patient_keys END,
           attempts = attempts + 1, updated_at = $7 WHERE tenant_id = $1 AND id = $2 AND status <> 'processed'`,
        [tenant, id, r.ack, r.errorCode, r.error, r.patientKeys, r.now],
      );
    },
    async countReplay(tenant, id) {
      await db.query('UPDATE hl7v2_message SET replays = replays + 1 WHERE tenant_id = $1 AND id = $2', [tenant, id]);
    },
    async idsWithStatus(tenant, status, limit) {
      const res = await db.query<{ id: string }>(
        'SELECT id FROM hl7v2_message WHERE tenant_id = $1 AND status = $2 ORDER BY received_at, id LIMIT $3',
        [tenant, status, limit],
      );
      return res.rows.map((r) => r.id);
    },
  };
}
