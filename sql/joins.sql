-- Joins and IN-lists: lookups, never full listings, concurrent where possible.
\set VERBOSITY default
SELECT emu_reset();

CREATE FOREIGN TABLE lead (id text, display_name text) SERVER emu OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE contact (id text, lead_id text, name text) SERVER emu OPTIONS (object 'contact', use_search 'false');
CREATE FOREIGN TABLE task (id text, lead_id text, _type text, text text) SERVER emu OPTIONS (object 'task');
CREATE FOREIGN TABLE note (id text, lead_id text, note text) SERVER emu OPTIONS (object 'activity/note');

CREATE TABLE accounts (account text, close_lead text);
INSERT INTO accounts
SELECT 'acct-' || n, o->>'id'
  FROM (SELECT row_number() OVER (ORDER BY o->>'id') AS n, o FROM emu_objects('lead') o) s
 WHERE n <= 5;
ANALYZE accounts;

-- a join on a child collection's lead_id: one small filtered listing per lead
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
SELECT a.account, c.name FROM accounts a JOIN contact c ON c.lead_id = a.close_lead$$);
SELECT count(*) FROM accounts a JOIN contact c ON c.lead_id = a.close_lead;
SELECT count(*) AS requests, count(*) FILTER (WHERE query LIKE '%lead_id=%') AS filtered,
       count(DISTINCT query) AS distinct_requests FROM emu_requests();
SELECT emu_clear();
-- the same rows as a full listing joined locally
SELECT (SELECT count(*) FROM accounts a JOIN contact c ON c.lead_id = a.close_lead) =
       (SELECT count(*) FROM accounts a JOIN contact c ON c.lead_id || '' = a.close_lead) AS same_rows;
SELECT emu_clear();

-- lookups and child listings in one plan
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
SELECT a.account, l.display_name, count(t.id) AS tasks
  FROM accounts a JOIN lead l ON l.id = a.close_lead LEFT JOIN task t ON t.lead_id = l.id
 GROUP BY 1, 2$$);
SELECT count(*) FROM (
SELECT a.account, l.display_name, count(t.id) AS tasks
  FROM accounts a JOIN lead l ON l.id = a.close_lead LEFT JOIN task t ON t.lead_id = l.id
 GROUP BY 1, 2) s;
SELECT count(*) FILTER (WHERE path LIKE '/api/v1/lead/lead%') AS lead_lookups,
       count(*) FILTER (WHERE path = '/api/v1/task/') AS task_listings,
       count(*) FILTER (WHERE path = '/api/v1/lead/' ) AS lead_listings
  FROM emu_requests();
SELECT emu_clear();

-- id IN (...) on tasks and activities: one id__in list request instead of one GET per id
SELECT array_agg(o->>'id' ORDER BY o->>'id') AS task_ids FROM (SELECT o FROM emu_objects('task') o LIMIT 7) s \gset
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM task WHERE id = ANY(:'task_ids'::text[]);
SELECT count(*) FROM task WHERE id = ANY(:'task_ids'::text[]);
SELECT method, path, query ~ '^_limit=7&id__in=[^&]+&_type=all$' AS one_batch FROM emu_requests();
SELECT emu_clear();
SELECT count(*) FROM note WHERE id IN ('acti_0000000000000000000001', 'acti_missing', 'acti_0000000000000000000001');
SELECT method, path, query FROM emu_requests();
SELECT emu_clear();

-- lookups run concurrently: with 100 ms of latency per request, 12 ids
-- overlap (the emulator sees more than one request in flight)
SELECT close_raw('POST', '/config', '{"latency_ms": 100}', 'emu_control') IS NOT NULL AS slow;
SELECT array_agg(o->>'id') AS lead_ids FROM (SELECT o FROM emu_objects('lead') o LIMIT 12) s \gset
SELECT count(*) FROM lead WHERE id = ANY(:'lead_ids'::text[]);
SELECT count(*) AS requests, count(DISTINCT connection) > 1 AS connections,
       emu_max_overlap() > 1 AS overlapped, emu_max_overlap() <= 8 AS within_max_concurrency
  FROM emu_requests();
SELECT emu_reset();

-- a join on a local table's column: the ids it will ask for are listed
-- once from the local table and looked up concurrently
CREATE TABLE many_accounts AS
SELECT 'acct-' || row_number() OVER () AS account, o->>'id' AS close_lead
  FROM (SELECT o FROM emu_objects('lead') o LIMIT 12) s;
INSERT INTO many_accounts VALUES ('acct-none', 'lead_missing'), ('acct-null', NULL);
ANALYZE many_accounts;
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
SELECT a.account, l.display_name FROM many_accounts a JOIN lead l ON l.id = a.close_lead
 WHERE a.account <> 'acct-3'$$);
SELECT close_raw('POST', '/config', '{"latency_ms": 100}', 'emu_control') IS NOT NULL AS slow;
SELECT count(*) FROM many_accounts a JOIN lead l ON l.id = a.close_lead WHERE a.account <> 'acct-3';
SELECT count(*) AS requests, count(*) FILTER (WHERE status = 404) AS missing,
       emu_max_overlap() > 1 AS overlapped FROM emu_requests();
SELECT emu_reset();
SELECT * FROM explain_stable('ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF', $$
SELECT count(*) FROM many_accounts a LEFT JOIN lead l ON l.id = a.close_lead$$);
DROP TABLE many_accounts;
SELECT emu_reset();

-- max_concurrency 1: one at a time
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
CREATE SERVER emu_serial FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_concurrency '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_serial OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_serial (id text) SERVER emu_serial OPTIONS (object 'lead', use_search 'false');
SELECT close_raw('POST', '/config', '{"latency_ms": 30}', 'emu_control') IS NOT NULL AS slow;
SELECT count(*) FROM lead_serial WHERE id = ANY(:'lead_ids'::text[]);
SELECT count(*) AS requests, count(DISTINCT connection) AS connections, emu_max_overlap() AS max_in_flight
  FROM emu_requests();
SELECT emu_reset();

-- the ids of a join are read from the local table as the role the query
-- reads it as: through a view, its owner (who may read what the caller may not)
CREATE ROLE closecrm_pf_owner;
CREATE ROLE closecrm_pf_reader;
GRANT USAGE ON FOREIGN SERVER emu TO closecrm_pf_owner;
CREATE USER MAPPING FOR closecrm_pf_owner SERVER emu OPTIONS (api_key 'test_key_alpha');
CREATE TABLE pf_ids AS SELECT close_lead AS id FROM accounts;
ANALYZE pf_ids;
ALTER TABLE pf_ids OWNER TO closecrm_pf_owner;
GRANT SELECT ON lead TO closecrm_pf_owner;
CREATE VIEW pf_view AS SELECT l.id, l.display_name FROM pf_ids i JOIN lead l ON l.id = i.id;
ALTER VIEW pf_view OWNER TO closecrm_pf_owner;
GRANT SELECT ON pf_view TO closecrm_pf_reader;
SELECT emu_clear();
SET ROLE closecrm_pf_reader;
SELECT count(*) FILTER (WHERE "QUERY PLAN" LIKE '%Close Prefetch Ids From: SELECT (s.id)::text FROM ONLY public.pf_ids s%') AS prefetching
  FROM explain_stable('VERBOSE, COSTS OFF', 'SELECT * FROM pf_view');
SELECT count(*) FROM pf_view;
SELECT count(*) FROM pf_ids;
RESET ROLE;
SELECT count(*) AS lookups FROM emu_requests();
DROP VIEW pf_view;
DROP TABLE pf_ids;
REVOKE SELECT ON lead FROM closecrm_pf_owner;
DROP USER MAPPING FOR closecrm_pf_owner SERVER emu;
REVOKE USAGE ON FOREIGN SERVER emu FROM closecrm_pf_owner;
DROP ROLE closecrm_pf_owner, closecrm_pf_reader;
SELECT emu_clear();

DROP TABLE accounts;
DROP SERVER emu_serial CASCADE;
DROP FOREIGN TABLE lead, contact, task, note;
