-- Planning: how many objects the planner expects of a Close table.  The
-- table's estimated_rows option, else what ANALYZE counted, else the
-- server's estimated_rows, else 100,000.  ANALYZE sends one request.
-- SELECT ... FOR UPDATE / FOR SHARE on a Close table is refused, and the
-- row mark a Close table gets when another table is locked or updated does
-- not widen _fields.
\set VERBOSITY default
\getenv emulator_root CLOSE_EMULATOR_URL
\set api_url :emulator_root '/api/v1'
SELECT emu_reset();
CREATE SERVER est FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER est OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE est_lead (id text, display_name text, status_label text,
  date_created timestamptz) SERVER est OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE est_contact (id text, lead_id text, name text) SERVER est OPTIONS (object 'contact', use_search 'false');
CREATE FOREIGN TABLE est_status (id text, label text) SERVER est OPTIONS (object 'status/lead');
CREATE FOREIGN TABLE est_comment (id text, body text) SERVER est OPTIONS (object 'comment');

-- nothing known: 100,000 objects, 1,000 pages of 100
EXPLAIN SELECT * FROM est_lead;

-- estimated_rows: validated where it is set
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows 'many');
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows '-1');
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows '2.5');
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows '1e13');
ALTER USER MAPPING FOR CURRENT_USER SERVER est OPTIONS (ADD estimated_rows '10');
-- the server's applies to its tables; a table's own wins
ALTER SERVER est OPTIONS (ADD estimated_rows '5000');
EXPLAIN SELECT * FROM est_lead;
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows '300');
EXPLAIN SELECT * FROM est_lead;
-- conditions Close cannot see still scale the estimate down
EXPLAIN SELECT * FROM est_lead WHERE display_name LIKE 'A%';
ALTER FOREIGN TABLE est_lead OPTIONS (DROP estimated_rows);
ALTER SERVER est OPTIONS (DROP estimated_rows);

-- ANALYZE: one request for one page, as large as a page may be, with the
-- fields of the table's columns; leads come with Close's total_results
SELECT emu_clear();
ANALYZE est_lead;
SELECT method, path, query, status FROM emu_requests();
SELECT reltuples FROM pg_class WHERE oid = 'est_lead'::regclass;
EXPLAIN SELECT * FROM est_lead;
-- column statistics from the sample: the planner now knows status_label
SELECT attname, null_frac, n_distinct > 0 OR n_distinct < 0 AS has_n_distinct
  FROM pg_stats WHERE tablename = 'est_lead' ORDER BY attname;
EXPLAIN SELECT * FROM est_lead WHERE status_label = 'no such status';
-- a table option still wins over ANALYZE's count
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows '40000');
EXPLAIN SELECT * FROM est_lead;
ALTER FOREIGN TABLE est_lead OPTIONS (DROP estimated_rows);

-- a collection on one page (status/lead): counted from the page itself
SELECT emu_clear();
ANALYZE est_status;
SELECT method, path, query FROM emu_requests();
SELECT reltuples FROM pg_class WHERE oid = 'est_status'::regclass;
-- contacts: more than one page and no total from Close, so the count stays
-- what the planner assumes (here the server's estimated_rows); the column
-- statistics are new
ALTER SERVER est OPTIONS (ADD estimated_rows '2000');
SELECT emu_clear();
ANALYZE est_contact;
SELECT method, path, query FROM emu_requests();
SELECT reltuples FROM pg_class WHERE oid = 'est_contact'::regclass;
SELECT count(*) AS columns_with_stats FROM pg_stats WHERE tablename = 'est_contact';
ALTER SERVER est OPTIONS (DROP estimated_rows);
-- a collection Close lists only with a filter: skipped, with the reason
SELECT emu_clear();
ANALYZE est_comment;
SELECT count(*) AS requests FROM emu_requests();
-- a database-wide ANALYZE leaves foreign tables alone: no request
ANALYZE;
SELECT count(*) AS requests FROM emu_requests();

-- the plan follows the count: 900 local ids were looked up one by one
-- against an assumed 100,000 leads (and 1,100 listed them all); with the
-- 250 ANALYZE counted, a listing of 3 pages serves both
CREATE TABLE est_ids (id text PRIMARY KEY, note text);
INSERT INTO est_ids SELECT 'lead_' || lpad(n::text, 22, '0'), 'n' || n FROM generate_series(1, 1100) n;
ANALYZE est_ids;
CREATE TABLE est_ids_900 AS SELECT * FROM est_ids ORDER BY id LIMIT 900;
ANALYZE est_ids_900;
CREATE FOREIGN TABLE est_lead_unanalyzed (id text, display_name text) SERVER est OPTIONS (object 'lead', use_search 'false');
SELECT * FROM explain_stable('COSTS OFF', $$
SELECT count(l.display_name) FROM est_ids_900 i JOIN est_lead_unanalyzed l ON l.id = i.id$$);
SELECT * FROM explain_stable('COSTS OFF', $$
SELECT count(l.display_name) FROM est_ids i JOIN est_lead_unanalyzed l ON l.id = i.id$$);
SELECT * FROM explain_stable('COSTS OFF', $$
SELECT count(l.display_name) FROM est_ids_900 i JOIN est_lead l ON l.id = i.id$$);
SELECT emu_clear();
SELECT count(l.display_name) FROM est_ids_900 i JOIN est_lead l ON l.id = i.id;
SELECT count(*) AS requests, count(*) FILTER (WHERE path = '/api/v1/lead/') AS listing_pages FROM emu_requests();
-- told of a million leads, the planner looks the 1,100 ids up again
ALTER FOREIGN TABLE est_lead OPTIONS (ADD estimated_rows '1000000');
SELECT * FROM explain_stable('COSTS OFF', $$
SELECT count(l.display_name) FROM est_ids i JOIN est_lead l ON l.id = i.id$$);
ALTER FOREIGN TABLE est_lead OPTIONS (DROP estimated_rows);

-- FOR UPDATE / FOR SHARE naming a Close table: refused, nothing sent
SELECT emu_clear();
SELECT id FROM est_lead WHERE id = 'lead_0000000000000000000001' FOR UPDATE;
SELECT id FROM est_lead WHERE id = 'lead_0000000000000000000001' FOR SHARE;
SELECT l.id FROM est_ids i JOIN est_lead l ON l.id = i.id FOR NO KEY UPDATE;
SELECT l.id FROM est_ids i JOIN est_lead l ON l.id = i.id FOR KEY SHARE OF l;
SELECT count(*) AS requests FROM emu_requests();
-- locking only the local table is fine, and the Close table's row mark
-- (its row copied for rechecks) does not make the listing fetch every field
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
SELECT i.note, l.display_name FROM est_ids i JOIN est_lead l ON l.id = i.id FOR UPDATE OF i$$);
SELECT emu_clear();
SELECT i.note, l.display_name FROM est_ids i JOIN est_lead l ON l.id = i.id FOR UPDATE OF i;
SELECT DISTINCT split_part(split_part(query, '_fields=', 2), '&', 1) AS fields FROM emu_requests();
-- the same for an UPDATE of the local table that reads a Close table
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
UPDATE est_ids i SET note = l.display_name FROM est_lead l WHERE l.id = i.id$$);
SELECT emu_clear();
UPDATE est_ids i SET note = l.display_name FROM est_lead l WHERE l.id = i.id;
SELECT DISTINCT split_part(split_part(query, '_fields=', 2), '&', 1) AS fields FROM emu_requests();
SELECT note FROM est_ids WHERE id = 'lead_0000000000000000000001';
-- a whole-row reference the query makes itself still needs every field
SELECT * FROM explain_stable('VERBOSE, COSTS OFF', $$
SELECT i.note, l FROM est_ids i JOIN est_lead l ON l.id = i.id FOR UPDATE OF i$$);

DROP TABLE est_ids, est_ids_900;
DROP SERVER est CASCADE;
SELECT emu_reset();
