-- closecrm_fdw demo: run by test/demo.sh inside a throwaway cluster.
\pset null '(null)'
\getenv base_url DEMO_BASE_URL
\getenv target DEMO_TARGET
\getenv api_key CLOSE_API_KEY
SELECT :'target' = 'emulator' AS on_emulator \gset

\echo '== 1. Install the extension and point a server at Close'
CREATE EXTENSION closecrm_fdw;
SELECT closecrm_fdw_version();
CREATE SERVER close FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'base_url');
-- the API key lives in the user mapping: other roles cannot read it
CREATE USER MAPPING FOR CURRENT_USER SERVER close OPTIONS (api_key :'api_key');

\echo '== 2. Foreign tables: one per Close object type'
CREATE FOREIGN TABLE lead (
  id text, display_name text, status_label text, description text,
  date_created timestamptz, attrs jsonb
) SERVER close OPTIONS (object 'lead');
CREATE FOREIGN TABLE contact (
  id text, lead_id text, name text, title text, emails jsonb
) SERVER close OPTIONS (object 'contact');
CREATE FOREIGN TABLE opportunity (
  id text, lead_id text, status_label text, value bigint, value_currency text, date_won date
) SERVER close OPTIONS (object 'opportunity');

-- an id to play with: the first lead Close lists
SELECT id AS some_lead FROM lead LIMIT 1 \gset

\echo '== 3. Look up an object by id: exactly one GET /lead/{id}/'
SELECT id, display_name, status_label, date_created FROM lead WHERE id = :'some_lead';
EXPLAIN (VERBOSE, COSTS OFF) SELECT display_name FROM lead WHERE id = :'some_lead';
\echo 'A missing id is zero rows, not an error:'
SELECT count(*) FROM lead WHERE id = 'lead_does_not_exist';

\echo '== 4. Join Close with a local table: one lookup per local row, never a full listing'
CREATE TEMP TABLE signups (email text, lead_id text);
INSERT INTO signups SELECT 'user' || n || '@example.com', id
  FROM (SELECT row_number() OVER () AS n, id FROM lead LIMIT 3) s;
ANALYZE signups;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT s.email, l.display_name FROM signups s JOIN lead l ON l.id = s.lead_id;
SELECT s.email, l.display_name FROM signups s JOIN lead l ON l.id = s.lead_id;

\echo '== 5. Delete an object by id: one DELETE, no GET before it'
\if :on_emulator
SELECT id AS victim FROM opportunity LIMIT 1 \gset
DELETE FROM opportunity WHERE id = :'victim' RETURNING id;
SELECT count(*) AS still_there FROM opportunity WHERE id = :'victim';
\else
\echo '(real Close account: showing the plan only, nothing is deleted)'
\endif
EXPLAIN (VERBOSE, COSTS OFF) DELETE FROM opportunity WHERE id = 'oppo_example';

\echo '== 6. Any endpoint: close_raw(method, url, body) returns status, headers, body'
SELECT status, headers->>'content-type' AS content_type,
       body->>'first_name' AS first_name, body->>'email' AS email
  FROM close_raw('GET', '/me/');
SELECT status, body FROM close_raw('GET', '/lead/lead_does_not_exist/');
\if :on_emulator
SELECT status, body->>'id' AS new_id, body->>'display_name' AS name
  FROM close_raw('POST', '/lead/', '{"name": "Demo Inc."}');
\endif

\echo ''
\echo 'Next: see README.md for options, listing, security and more; try'
\echo '  SELECT * FROM close_raw(''GET'', ''/status/lead/'');'
