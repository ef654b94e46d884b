-- Delete by id: exactly one DELETE /{object}/{id}/, no GET before it.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE opportunity (id text, lead_id text, status_label text, value bigint)
  SERVER emu OPTIONS (object 'opportunity');
CREATE FOREIGN TABLE custom_object (id text, lead_id text, name text)
  SERVER emu OPTIONS (object 'custom_object');

EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM opportunity WHERE id = 'oppo_0000000000000000000001';
DELETE FROM opportunity WHERE id = 'oppo_0000000000000000000001';
-- the object is gone: deleting again is 0 rows, not an error
DELETE FROM opportunity WHERE id = 'oppo_0000000000000000000001';
SELECT method, path, status FROM emu_requests();
SELECT count(*) FROM emu_objects('opportunity') o WHERE o->>'id' = 'oppo_0000000000000000000001';
SELECT emu_clear();

-- RETURNING id; a collection that answers 204 with no body
DELETE FROM custom_object WHERE id = 'custobj_0000000000000000000001' RETURNING id;
DELETE FROM custom_object WHERE id = 'custobj_0000000000000000000001' RETURNING id;
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();

-- parameters: prepared statements (generic plans too) and PL/pgSQL
SELECT id AS oppo2 FROM (SELECT o->>'id' AS id FROM emu_objects('opportunity') o LIMIT 1) s \gset
PREPARE del(text) AS DELETE FROM opportunity WHERE id = $1;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE del('x');
EXECUTE del(:'oppo2');
EXECUTE del(:'oppo2');
RESET plan_cache_mode;
CREATE FUNCTION delete_opportunity(oid_ text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  DELETE FROM opportunity WHERE id = oid_;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
SELECT delete_opportunity('oppo_missing');
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();

-- ids are percent-encoded
DELETE FROM opportunity WHERE id = 'a/b?c#d';
DELETE FROM opportunity WHERE id = '..';
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();

-- RETURNING other columns needs the row: one GET, then the DELETE
SELECT id AS oppo3 FROM (SELECT o->>'id' AS id FROM emu_objects('opportunity') o LIMIT 1) s \gset
EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM opportunity WHERE id = 'x' RETURNING id, value;
DELETE FROM opportunity WHERE id = :'oppo3' RETURNING lead_id IS NOT NULL AS has_lead, value > 0 AS has_value;
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();

-- a WHERE clause that is not on id: rows are found first, then deleted by id
SELECT count(*) AS lost_before FROM emu_objects('opportunity') o WHERE o->>'status_label' = 'Lost';
DELETE FROM opportunity WHERE status_label = 'Lost';
SELECT count(*) FILTER (WHERE method = 'DELETE') AS deletes,
       count(*) FILTER (WHERE method = 'GET') AS list_pages FROM emu_requests();
SELECT count(*) AS lost_after FROM emu_objects('opportunity') o WHERE o->>'status_label' = 'Lost';
-- with RETURNING, the rows come from the listing
SELECT emu_reset();
DELETE FROM opportunity WHERE status_label = 'Lost' AND value > 0
  RETURNING id LIKE 'oppo_%' AS is_oppo, status_label;
SELECT emu_clear();

-- objects Close cannot delete are refused at plan time
CREATE FOREIGN TABLE close_user (id text, email text) SERVER emu OPTIONS (object 'user');
DELETE FROM close_user WHERE id = 'user_0000000000000000000001';
CREATE FOREIGN TABLE event (id text) SERVER emu OPTIONS (object 'event');
DELETE FROM event WHERE id = 'ev_0000000000000000000001';
CREATE FOREIGN TABLE export (id text) SERVER emu OPTIONS (object 'export');
DELETE FROM export WHERE id = 'expo_0000000000000000000001';
-- read-only tables, tables without an id column
CREATE FOREIGN TABLE ro_lead (id text) SERVER emu OPTIONS (object 'lead', updatable 'false');
DELETE FROM ro_lead WHERE id = 'lead_0000000000000000000001';
CREATE FOREIGN TABLE noid_lead (name text) SERVER emu OPTIONS (object 'lead');
DELETE FROM noid_lead WHERE name = 'x';
-- nothing reached Close
SELECT count(*) FROM emu_requests();
-- what information_schema says
SELECT table_name, is_insertable_into FROM information_schema.tables
 WHERE table_name IN ('opportunity', 'close_user', 'ro_lead') ORDER BY 1;

DROP FUNCTION delete_opportunity(text);
DROP FOREIGN TABLE opportunity, custom_object, close_user, event, export, ro_lead, noid_lead;
