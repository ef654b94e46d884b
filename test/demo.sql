-- closecrm_fdw demo: run by test/demo.sh inside a throwaway cluster, against
-- the bundled Close emulator or (CLOSE_API_KEY set) a real Close account.
\set QUIET on
\pset null '(null)'
\pset footer off
\set base_url `echo "$DEMO_BASE_URL"`
\set target `echo "$DEMO_TARGET"`
\set api_key `echo "$CLOSE_API_KEY"`
SELECT :'target' = 'emulator' AS on_emulator \gset
\set ECHO queries

\echo
\echo '== 1. Install the extension; a server for Close and a user mapping with the API key'
\echo '   (the key lives in the user mapping: other roles cannot read it)'
CREATE EXTENSION closecrm_fdw;
SELECT closecrm_fdw_version();
CREATE SERVER close FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'base_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER close OPTIONS (api_key :'api_key');

\echo
\echo '== 2. IMPORT FOREIGN SCHEMA: one foreign table per Close object, custom fields as columns'
CREATE SCHEMA close;
IMPORT FOREIGN SCHEMA close LIMIT TO (lead, contact, opportunity, task)
  FROM SERVER close INTO close;
SELECT foreign_table_name AS table, count(*) AS columns
  FROM information_schema.foreign_tables t
  JOIN information_schema.columns c
    ON c.table_schema = t.foreign_table_schema AND c.table_name = t.foreign_table_name
 WHERE t.foreign_table_schema = 'close' GROUP BY 1 ORDER BY 1;
\echo 'The custom field columns of close.lead (the option field names the Close key):'
SELECT attname AS column, format_type(atttypid, atttypmod) AS type, attfdwoptions AS options
  FROM pg_attribute WHERE attrelid = 'close.lead'::regclass AND attfdwoptions IS NOT NULL
 ORDER BY attnum;

-- an id to play with: the first lead Close lists
\set ECHO none
SELECT id AS some_lead FROM close.lead LIMIT 1 \gset
\set ECHO queries

\echo
\echo '== 3. Look up an object by id: exactly one GET /lead/{id}/'
SELECT id, display_name, status_label, date_created FROM close.lead WHERE id = :'some_lead';
EXPLAIN (COSTS OFF) SELECT display_name FROM close.lead WHERE id = :'some_lead';
\echo 'A missing id is zero rows, not an error:'
SELECT count(*) FROM close.lead WHERE id = 'lead_does_not_exist';

\echo
\echo '== 4. Join Close with a local table: lookups by id (sent concurrently), never a full listing'
CREATE TEMP TABLE signups (email text, lead_id text);
INSERT INTO signups SELECT 'user' || n || '@example.com', id
  FROM (SELECT row_number() OVER () AS n, id FROM close.lead LIMIT 3) s;
ANALYZE signups;
EXPLAIN (COSTS OFF)
SELECT s.email, l.display_name FROM signups s JOIN close.lead l ON l.id = s.lead_id;
SELECT s.email, l.display_name FROM signups s JOIN close.lead l ON l.id = s.lead_id;
\echo 'A join on lead_id is a small filtered listing per local row:'
EXPLAIN (COSTS OFF)
SELECT s.email, c.name FROM signups s JOIN close.contact c ON c.lead_id = s.lead_id;

\echo
\echo '== 5. Delete an object by id: one DELETE /opportunity/{id}/, no GET before it'
EXPLAIN (COSTS OFF) DELETE FROM close.opportunity WHERE id = 'oppo_example';
\if :on_emulator
\set ECHO none
SELECT id AS victim FROM close.opportunity LIMIT 1 \gset
\set ECHO queries
DELETE FROM close.opportunity WHERE id = :'victim' RETURNING id;
SELECT count(*) AS still_there FROM close.opportunity WHERE id = :'victim';
\else
\echo '(a real Close account: the plan only, nothing is deleted)'
\endif

\echo
\echo '== 6. Any endpoint: close_raw(method, url, body) returns status, headers and body'
SELECT status, headers->>'content-type' AS content_type,
       body->>'first_name' AS first_name, body->>'email' AS email
  FROM close_raw('GET', '/me/');
SELECT status, body FROM close_raw('GET', '/lead/lead_does_not_exist/');

\echo
\echo '== 7. What was sent: EXPLAIN ANALYZE counts the requests, pages and retries'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM close.opportunity WHERE status_type = 'won';

\set ECHO none
\echo
\echo 'Next:'
\echo '  bash test/demo.sh --psql          this demo, then a psql prompt on the same setup, to try:'
\echo '    IMPORT FOREIGN SCHEMA close FROM SERVER close INTO close_all;   -- every Close object'
\echo '    SELECT object, table_name, can_get, can_list, can_delete FROM closecrm_objects();'
\echo '    SELECT * FROM close_raw(''GET'', ''/status/lead/'');'
\echo '    EXPLAIN (VERBOSE) SELECT * FROM close.opportunity WHERE date_won >= ''2024-01-01'';'
\echo '    INSERT INTO close.lead (name) VALUES (''Globex'') RETURNING id;   -- on the emulator'
\echo '  bash test/run_all.sh              every test'
\echo '  README.md                         install on your PostgreSQL, options, scheduled jobs, security'
\echo '  doc/objects.md                    every Close object: operations, filters, columns'
