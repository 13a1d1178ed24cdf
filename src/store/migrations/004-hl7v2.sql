-- HL7 v2 message store (docs/hl7v2.md). The message body is envelope-encrypted
-- by the ingestion service with the row identity as associated data; the
-- metadata columns carry no PHI except patient_keys, which are keyed HMACs
-- (blind indexes) of `system|value` patient identifiers, never the values.
CREATE TABLE hl7v2_message (
  tenant_id      text NOT NULL,
  id             uuid NOT NULL,
  channel        text NOT NULL,            -- 'mllp' or 'http'
  sender         text NOT NULL,            -- MSH-3^MSH-4
  control_id     text,                     -- MSH-10
  message_type   text,                     -- MSH-9.1
  trigger_event  text,                     -- MSH-9.2
  version        text,                     -- MSH-12
  patient_keys   text[] NOT NULL DEFAULT '{}',
  status         text NOT NULL CHECK (status IN ('received', 'processed', 'failed', 'rejected')),
  ack_code       text,                     -- AA | AE | AR (the application acknowledgment)
  ack            text,                     -- the acknowledgment sent (or to be sent again for a duplicate)
  error_code     text,                     -- Haven error code of the last failure
  error          text,                     -- its reason, as sent in ERR (no PHI values)
  body           bytea NOT NULL,
  body_bytes     integer NOT NULL,
  attempts       integer NOT NULL DEFAULT 0,
  replays        integer NOT NULL DEFAULT 0,
  received_at    timestamptz NOT NULL,
  processed_at   timestamptz,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
-- Deduplication: one accepted message per sender and MSH-10. Rejected
-- (malformed) messages do not claim the control id, so a corrected resend is taken.
CREATE UNIQUE INDEX hl7v2_message_dedup ON hl7v2_message (tenant_id, sender, control_id)
  WHERE status <> 'rejected' AND control_id IS NOT NULL;
CREATE INDEX hl7v2_message_received ON hl7v2_message (tenant_id, received_at DESC, id);
CREATE INDEX hl7v2_message_status ON hl7v2_message (tenant_id, status, received_at) WHERE status IN ('received', 'failed');
CREATE INDEX hl7v2_message_patient ON hl7v2_message USING gin (patient_keys);
