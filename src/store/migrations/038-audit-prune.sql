-- Pruning archived audit entries from PostgreSQL (issue 3, docs/adr/0006-audit-prune.md,
-- docs/security/audit.md "Retention and archive").
--
-- audit_archive_segment  one row per archive segment written (archive.ts): seq from_seq … to_seq - 1,
--                        the signed root at to_seq the manifest ends with, and the SHA-256 of the
--                        manifest file. A row must name a signed head of this log (same root) and
--                        continue the chain from 0. Append-only.
-- audit_prune            one row per prune: every entry with seq < through_seq may leave PostgreSQL;
--                        through_seq is the FIRST KEPT seq, a signed head whose stored frontier lets
--                        `haven audit verify` start there. Append-only: the record of what was removed.
--
-- The guard, in three layers (the server's role gets none of them):
--   1. audit_prune(…) is the only way rows leave. It is SECURITY DEFINER (runs as the tables'
--      owner) and EXECUTE is revoked from PUBLIC: on external PostgreSQL, grant it to a pruning
--      role alone (HAVEN_AUDIT_PRUNE_DATABASE_URL), never to Haven's server role.
--   2. It refuses a prune point that is not a signed head with the caller's root, not the end of a
--      registered archive segment, or whose batches are not all sequenced, whole and older than
--      both the caller's retention cutoff and audit_prune_min_age() (6 years; the owner may
--      replace that function, the server cannot).
--   3. The append-only triggers on audit_batch and audit_batch_log now let a DELETE through only
--      for a row below the recorded prune point, older than audit_prune_min_age(), inside the
--      transaction that audit_prune marked (haven.audit_prune): a mistaken DELETE by the owner is
--      refused like before. UPDATE and TRUNCATE stay refused.
-- SQL cannot see the blob store: that the archived blobs exist and verify is checked by
-- `haven audit prune` (src/audit/prune.ts) right before it calls audit_prune.

CREATE FUNCTION audit_prune_min_age() RETURNS interval LANGUAGE sql STABLE AS $$ SELECT interval '6 years' $$;

CREATE TABLE audit_archive_segment (
  to_seq          bigint      PRIMARY KEY,
  from_seq        bigint      NOT NULL UNIQUE CHECK (from_seq >= 0),
  root_hash       bytea       NOT NULL,
  manifest_sha256 bytea       NOT NULL,
  registered_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (to_seq > from_seq)
);

-- Checked at commit (a deferred constraint trigger), so a restore may load the table before
-- audit_tree_head and in any row order; with from_seq and to_seq unique, "starts at 0 or where
-- another segment ends" makes the registered segments one chain from 0.
CREATE FUNCTION audit_archive_segment_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_tree_head h WHERE h.tree_size = NEW.to_seq AND h.root_hash = NEW.root_hash) THEN
    RAISE EXCEPTION 'audit archive segment %..%: no signed tree head of size % with that root', NEW.from_seq, NEW.to_seq - 1, NEW.to_seq
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.from_seq <> 0 AND NOT EXISTS (SELECT 1 FROM audit_archive_segment s WHERE s.to_seq = NEW.from_seq) THEN
    RAISE EXCEPTION 'audit archive segment %..%: does not continue the registered archive', NEW.from_seq, NEW.to_seq - 1
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER audit_archive_segment_chain AFTER INSERT ON audit_archive_segment
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_archive_segment_check();
CREATE TRIGGER audit_archive_segment_append_only BEFORE UPDATE OR DELETE ON audit_archive_segment
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_archive_segment_no_truncate BEFORE TRUNCATE ON audit_archive_segment
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE audit_prune (
  through_seq bigint      PRIMARY KEY CHECK (through_seq > 0),
  root_hash   bytea       NOT NULL,
  cutoff      timestamptz NOT NULL,
  batches     bigint      NOT NULL,
  entries     bigint      NOT NULL,
  actor       text        NOT NULL,
  pruned_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_prune_append_only BEFORE UPDATE OR DELETE ON audit_prune
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_prune_no_truncate BEFORE TRUNCATE ON audit_prune
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_prune FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_archive_segment FROM PUBLIC;

-- The prune point every DELETE is held to: the recorded one, and only inside audit_prune's transaction.
CREATE FUNCTION audit_prune_point() RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT least(coalesce((SELECT max(through_seq) FROM audit_prune), 0),
               coalesce(nullif(current_setting('haven.audit_prune', true), '')::bigint, 0))
$$;

CREATE FUNCTION audit_batch_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND OLD.last_at < now() - audit_prune_min_age()
     AND EXISTS (SELECT 1 FROM audit_batch_log l WHERE l.batch_id = OLD.batch_id AND l.tenant_id = OLD.tenant_id
                 AND l.first_seq + l.count <= audit_prune_point()) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE FUNCTION audit_batch_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND OLD.first_seq + OLD.count <= audit_prune_point()
     AND NOT EXISTS (SELECT 1 FROM audit_batch b WHERE b.tenant_id = OLD.tenant_id AND b.batch_id = OLD.batch_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER audit_batch_append_only ON audit_batch;
CREATE TRIGGER audit_batch_append_only BEFORE UPDATE OR DELETE ON audit_batch
  FOR EACH ROW EXECUTE FUNCTION audit_batch_guard();
DROP TRIGGER audit_batch_log_append_only ON audit_batch_log;
CREATE TRIGGER audit_batch_log_append_only BEFORE UPDATE OR DELETE ON audit_batch_log
  FOR EACH ROW EXECUTE FUNCTION audit_batch_log_guard();

-- Records the prune point (first call) and deletes up to p_limit batches below it (oldest first),
-- then their log rows; returns what this call deleted. Call again until it returns 0 batches:
-- each call is its own transaction, so an interrupted prune resumes where it stopped.
CREATE FUNCTION audit_prune(p_through bigint, p_root bytea, p_cutoff timestamptz, p_actor text, p_limit int)
RETURNS TABLE (pruned_batches bigint, pruned_entries bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_prev bigint := coalesce((SELECT max(through_seq) FROM audit_prune), 0);
  v_point bigint;
  v_batches bigint;
  v_entries bigint;
  v_tenants text[];
  v_ids bigint[];
BEGIN
  IF p_limit IS NULL OR p_limit < 1 THEN
    RAISE EXCEPTION 'audit_prune: p_limit must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_through > v_prev THEN
    IF NOT EXISTS (SELECT 1 FROM audit_tree_head h WHERE h.tree_size = p_through AND h.root_hash = p_root) THEN
      RAISE EXCEPTION 'audit_prune: no signed tree head of size % with that root', p_through USING ERRCODE = 'check_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_archive_segment s WHERE s.to_seq = p_through AND s.root_hash = p_root) THEN
      RAISE EXCEPTION 'audit_prune: seq % is not the end of a registered archive segment', p_through USING ERRCODE = 'check_violation';
    END IF;
    IF p_cutoff > now() - audit_prune_min_age() THEN
      RAISE EXCEPTION 'audit_prune: cutoff % is inside the minimum retention (%)', p_cutoff, audit_prune_min_age() USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_batch_log l LEFT JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
               WHERE l.first_seq >= v_prev AND l.first_seq < p_through
                 AND (l.first_seq + l.count > p_through OR b.last_at IS NULL OR b.last_at >= p_cutoff)) THEN
      RAISE EXCEPTION 'audit_prune: a batch below seq % is missing, extends past it, or was recorded at or after %', p_through, p_cutoff
        USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*), coalesce(sum(l.count), 0) INTO v_batches, v_entries
      FROM audit_batch_log l WHERE l.first_seq >= v_prev AND l.first_seq < p_through;
    INSERT INTO audit_prune (through_seq, root_hash, cutoff, batches, entries, actor)
      VALUES (p_through, p_root, p_cutoff, v_batches, v_entries, p_actor);
  END IF;
  v_point := greatest(v_prev, p_through);
  PERFORM set_config('haven.audit_prune', v_point::text, true);
  SELECT coalesce(array_agg(d.tenant_id), '{}'), coalesce(array_agg(d.batch_id), '{}'), count(*), coalesce(sum(d.count), 0)
    INTO v_tenants, v_ids, v_batches, v_entries
    FROM (SELECT l.tenant_id, l.batch_id, l.count FROM audit_batch_log l
          WHERE l.first_seq < v_point ORDER BY l.first_seq LIMIT p_limit) d;
  DELETE FROM audit_batch b USING unnest(v_tenants, v_ids) AS d(tenant_id, batch_id)
    WHERE b.tenant_id = d.tenant_id AND b.batch_id = d.batch_id;
  DELETE FROM audit_batch_log l USING unnest(v_tenants, v_ids) AS d(tenant_id, batch_id)
    WHERE l.tenant_id = d.tenant_id AND l.batch_id = d.batch_id;
  PERFORM set_config('haven.audit_prune', '', true);
  RETURN QUERY SELECT v_batches, v_entries;
END;
$$;
REVOKE ALL ON FUNCTION audit_prune(bigint, bytea, timestamptz, text, int) FROM PUBLIC;
