-- idx_string_lookup only for plaintext values (issue 8 profiling, 2026-11-29). Since 014, rows of
-- protected parameters carry only a blind HMAC (value_norm NULL) and are found through
-- idx_string_blind; they are most of idx_string's rows (blind prefix tags of names, addresses and
-- phonetic forms: ~190 per HL7 ADT message), and keeping them in the plaintext lookup index cost
-- about 18% of the string rows' insert time for entries no query can use. Every lookup through
-- this index compares value_norm with a strict operator (=, LIKE, ~<~), which implies
-- IS NOT NULL; the _sort driven form says so explicitly (src/search/compile-sort.ts).
CREATE INDEX idx_string_lookup_plain ON idx_string (tenant_id, resource_type, param, value_norm text_pattern_ops)
  WHERE value_norm IS NOT NULL;
DROP INDEX idx_string_lookup;
ALTER INDEX idx_string_lookup_plain RENAME TO idx_string_lookup;
