-- The newest HL7 v2 message (by MSH-7) that updated each converted resource,
-- so a message older than that one — a late resend, a dead letter replayed
-- after newer messages — does not overwrite newer data (docs/hl7v2.md,
-- "Out-of-order messages"). entry_key is a keyed HMAC (blind-index key) of the
-- Bundle entry's PUT target (`Patient?identifier=system|value`, `Type/id`),
-- never the identifier itself; message_id names the stored message.
CREATE TABLE hl7v2_entry_clock (
  tenant_id     text NOT NULL,
  entry_key     text NOT NULL,
  message_time  timestamptz NOT NULL,
  message_id    uuid NOT NULL,
  PRIMARY KEY (tenant_id, entry_key)
);
