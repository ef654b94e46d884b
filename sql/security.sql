-- Security: the API key never shows (messages, EXPLAIN, results, the server
-- log at debug5); requests stay under base_url; roles use only what they
-- were given.  Needs the emulator (CLOSE_EMULATOR_URL) and
-- test/hostile_server.py (CLOSE_HOSTILE_URL), as test/run_all.sh starts them.
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set hostile_root `echo "$CLOSE_HOSTILE_URL"`
\set api_url :emulator_root '/api/v1'
\set hostile_api :hostile_root '/api/v1'
\set hostile_ctl :hostile_root '/_hostile'
\set VERBOSITY default
SELECT emu_reset();

-- the hostile server records every request it gets: the target of redirects
CREATE SERVER sec_hostile_ctl FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'hostile_ctl', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_hostile_ctl OPTIONS (api_key 'unused');
CREATE FUNCTION hostile_reset() RETURNS void LANGUAGE sql AS
$$ SELECT close_raw('POST', '/reset', NULL, 'sec_hostile_ctl') $$;
CREATE FUNCTION hostile_requests() RETURNS SETOF jsonb LANGUAGE sql AS
$$ SELECT jsonb_array_elements((close_raw('GET', '/requests', NULL, 'sec_hostile_ctl')).body) $$;
SELECT hostile_reset();

------------------------------------------------------------------------------
-- 1. Secrets
------------------------------------------------------------------------------
-- Everything from here on goes to the server log at debug5, with every
-- statement; at the end the log is read back and searched for the key.
SELECT size AS log_start FROM pg_stat_file('/proc/' || pg_backend_pid() || '/fd/2') \gset
-- DDL that sets a key is statement text, which PostgreSQL itself logs under
-- log_statement = ddl/all, and with any message under log_min_error_statement
-- (see README): keep those statements out of the log
SET log_statement = 'none';
SET log_min_error_statement = panic;
CREATE SERVER sec FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '0', timeout '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER sec OPTIONS (api_key 'secret_canary_7f3a9');
SET log_min_messages = debug5;
SET log_min_error_statement = debug5;
SET log_statement = 'all';
DO $$ BEGIN RAISE LOG 'closecrm security marker: logging is on'; END $$;

-- the key, read from the catalog: no statement below contains it
CREATE FUNCTION canary() RETURNS text LANGUAGE sql AS
$$ SELECT substr(o, length('api_key=') + 1)
     FROM pg_user_mapping m JOIN pg_foreign_server s ON s.oid = m.umserver,
          unnest(m.umoptions) o
    WHERE s.srvname = 'sec' AND o LIKE 'api_key=%' $$;
SELECT length(canary()) AS key_length;

-- Every text a statement produces: its rows, or every part of its error.
CREATE TABLE sec_seen (label text, summary text, output text);
GRANT INSERT, SELECT ON sec_seen TO PUBLIC;
CREATE FUNCTION sec_try(label text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r record;
  out text := '';
  st text; msg text; det text; hin text; ctx text;
  n int := 0;
BEGIN
  FOR r IN EXECUTE stmt LOOP
    out := out || r::text || E'\n';
    n := n + 1;
  END LOOP;
  INSERT INTO sec_seen VALUES (label, 'ok: ' || n || ' rows', out);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
    det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
  INSERT INTO sec_seen VALUES (label, st || ': ' || msg, concat_ws(E'\n', msg, det, hin, ctx));
  RETURN st;
END $$;
GRANT EXECUTE ON FUNCTION sec_try(text, text) TO PUBLIC;

CREATE FOREIGN TABLE sec_lead (id text, display_name text, attrs jsonb)
  SERVER sec OPTIONS (object 'lead');

-- 401 (the emulator does not know the key): lookup, listing, delete, close_raw
SELECT sec_try('lookup 401', $$SELECT * FROM sec_lead WHERE id = 'lead_0000000000000000000001'$$);
SELECT sec_try('listing 401', $$SELECT count(*) FROM sec_lead$$);
SELECT sec_try('delete 401', $$DELETE FROM sec_lead WHERE id = 'lead_0000000000000000000001' RETURNING id$$);
SELECT sec_try('close_raw 401', $$SELECT status, headers, body FROM close_raw('GET', '/me/', NULL, 'sec')$$);
-- 403 and scripted answers of every kind, as data and as ERRORs
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_sec403/", "status": 403, "times": -1, "body": "{\"error\": \"Forbidden.\"}"}');
SELECT sec_try('lookup 403', $$SELECT * FROM sec_lead WHERE id = 'lead_sec403'$$);
SELECT sec_try('close_raw 403', $$SELECT * FROM close_raw('GET', '/lead/lead_sec403/', NULL, 'sec')$$);
SELECT emu_fault('{"path": "/api/v1/lead/lead_sec500/", "status": 500, "times": -1, "body": "<html>Internal Server Error</html>", "headers": {"Content-Type": "text/html"}}');
SELECT sec_try('lookup 500', $$SELECT * FROM sec_lead WHERE id = 'lead_sec500'$$);
SELECT sec_try('delete 500', $$DELETE FROM sec_lead WHERE id = 'lead_sec500' RETURNING id$$);
SELECT sec_try('close_raw 500', $$SELECT * FROM close_raw('DELETE', '/lead/lead_sec500/', NULL, 'sec')$$);
SELECT emu_fault('{"path": "/api/v1/lead/lead_sec302/", "status": 302, "times": -1, "headers": {"Location": "http://127.0.0.1:9/api/v1/lead/x/"}}');
SELECT sec_try('lookup 302', $$SELECT * FROM sec_lead WHERE id = 'lead_sec302'$$);
SELECT sec_try('close_raw 302', $$SELECT * FROM close_raw('GET', '/lead/lead_sec302/', NULL, 'sec')$$);
SELECT emu_fault('{"path": "/api/v1/lead/lead_sec429/", "status": 429, "times": -1}');
SELECT sec_try('lookup 429', $$SELECT * FROM sec_lead WHERE id = 'lead_sec429'$$);
-- successful answers (scripted: the emulator answers faults before it checks keys)
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_sec/", "status": 200, "times": -1, "body": "{\"id\": \"lead_sec\", \"display_name\": \"Secret Co\"}"}');
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "status": 200, "times": -1, "body": "{\"data\": [{\"id\": \"lead_sec\", \"display_name\": \"Secret Co\"}], \"has_more\": false}"}');
SELECT emu_fault('{"method": "DELETE", "path": "/api/v1/lead/lead_sec/", "status": 204, "times": -1}');
SELECT sec_try('lookup 200', $$SELECT * FROM sec_lead WHERE id = 'lead_sec'$$);
SELECT sec_try('listing 200', $$SELECT * FROM sec_lead$$);
SELECT sec_try('delete 204', $$DELETE FROM sec_lead WHERE id = 'lead_sec' RETURNING id$$);
SELECT sec_try('close_raw 200', $$SELECT * FROM close_raw('GET', '/lead/lead_sec/', NULL, 'sec')$$);
-- a value that does not fit its column
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_secbad/", "status": 200, "times": -1, "body": "{\"id\": \"lead_secbad\", \"display_name\": \"x\", \"attrs\": 1}"}');
CREATE FOREIGN TABLE sec_lead_typed (id text, display_name int) SERVER sec OPTIONS (object 'lead');
SELECT sec_try('conversion', $$SELECT * FROM sec_lead_typed WHERE id = 'lead_secbad'$$);
-- EXPLAIN with every option and format
SELECT sec_try('explain ' || o, 'EXPLAIN (' || o || ') SELECT * FROM sec_lead WHERE id = ''lead_sec''')
  FROM unnest(ARRAY['VERBOSE', 'VERBOSE, COSTS OFF, SETTINGS',
    'ANALYZE, VERBOSE, BUFFERS, WAL, SETTINGS, TIMING OFF, SUMMARY ON',
    'ANALYZE, VERBOSE, FORMAT JSON', 'ANALYZE, VERBOSE, FORMAT XML', 'ANALYZE, VERBOSE, FORMAT YAML']) o;
SELECT sec_try('explain listing ' || o, 'EXPLAIN (' || o || ') SELECT * FROM sec_lead WHERE display_name <> ''x'' ORDER BY 1 LIMIT 5')
  FROM unnest(ARRAY['VERBOSE, SETTINGS', 'ANALYZE, VERBOSE, FORMAT JSON', 'ANALYZE, VERBOSE, FORMAT XML']) o;
SELECT sec_try('explain delete ' || o, 'EXPLAIN (' || o || ') DELETE FROM sec_lead WHERE id = ''lead_sec''')
  FROM unnest(ARRAY['VERBOSE', 'ANALYZE, VERBOSE, FORMAT YAML']) o;
SELECT sec_try('explain failing', $$EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM sec_lead WHERE id = 'lead_sec403'$$);
-- transport failures: nothing listening, a timeout, a body too large, a dropped connection
ALTER SERVER sec OPTIONS (SET base_url 'http://127.0.0.1:9/api/v1');
SELECT sec_try('connect refused lookup', $$SELECT * FROM sec_lead WHERE id = 'lead_sec'$$);
SELECT sec_try('connect refused close_raw', $$SELECT * FROM close_raw('GET', '/me/', NULL, 'sec')$$);
ALTER SERVER sec OPTIONS (SET base_url :'api_url');
SELECT emu_fault('{"path": "/api/v1/lead/lead_secslow/", "delay": 3, "times": -1}');
SELECT sec_try('timeout', $$SELECT * FROM sec_lead WHERE id = 'lead_secslow'$$);
SELECT emu_fault('{"path": "/api/v1/lead/lead_secdrop/", "drop": true, "times": -1}');
SELECT sec_try('drop', $$SELECT * FROM close_raw('GET', '/lead/lead_secdrop/', NULL, 'sec')$$);
SELECT emu_fault(jsonb_build_object('path', '/api/v1/lead/lead_secbig/', 'status', 200, 'times', -1,
       'body', jsonb_build_object('id', 'lead_secbig', 'description', repeat('x', 2000))::text));
ALTER SERVER sec OPTIONS (ADD max_response_size '1024');
SELECT sec_try('too large', $$SELECT * FROM sec_lead WHERE id = 'lead_secbig'$$);
ALTER SERVER sec OPTIONS (DROP max_response_size);
SELECT emu_fault_clear();
-- the catalog function, the version and the request statistics
SELECT sec_try('closecrm_objects', $$SELECT * FROM closecrm_objects()$$);
SELECT sec_try('version', $$SELECT closecrm_fdw_version()$$);
SELECT sec_try('stats', $$SELECT * FROM closecrm_fdw_stats()$$);

-- What was captured: every case ran, none shows the key.
SELECT label, summary FROM sec_seen ORDER BY label;
SELECT count(*) AS cases, count(*) FILTER (WHERE label LIKE 'explain%') AS explains,
       count(*) FILTER (WHERE position(canary() IN output) > 0) AS showing_the_key
  FROM sec_seen;
-- the search would find the key if it were there
SELECT position(canary() IN (SELECT string_agg(um::text, ' ') FROM pg_user_mappings um)) > 0 AS superuser_sees_key;
-- EXPLAIN showed the requests (so the check above read real output)
SELECT count(*) FILTER (WHERE output LIKE '%Close Request%') AS explains_with_request,
       count(*) FILTER (WHERE output LIKE '%Close Requests Sent%' OR output LIKE '%Close-Requests-Sent%') AS explains_analyzed
  FROM sec_seen WHERE label LIKE 'explain%';

-- Validation errors on user mapping options name the problem, never the value.
-- (The statements themselves hold the key: kept out of the log, see above.)
SET log_statement = 'none';
SET log_min_error_statement = panic;
ALTER USER MAPPING FOR CURRENT_USER SERVER sec OPTIONS (SET api_key 'secret_canary_7f3a9 with space');
ALTER USER MAPPING FOR CURRENT_USER SERVER sec OPTIONS (SET api_key 'secret_canary_7f3a9:');
ALTER USER MAPPING FOR CURRENT_USER SERVER sec OPTIONS (ADD apikey 'secret_canary_7f3a9');
CREATE SERVER sec_bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (api_key 'secret_canary_7f3a9');
CREATE FOREIGN TABLE sec_bad (id text) SERVER sec OPTIONS (object 'lead', api_key 'secret_canary_7f3a9');
SET log_statement = 'all';
SET log_min_error_statement = debug5;

------------------------------------------------------------------------------
-- 2. Where requests may go
------------------------------------------------------------------------------
SELECT emu_reset();
CREATE FOREIGN TABLE sec_emu_lead (id text, display_name text) SERVER emu OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE sec_emu_contact (id text, lead_id text) SERVER emu OPTIONS (object 'contact', use_search 'false');
CREATE TABLE sec_ids (n int, id text);
INSERT INTO sec_ids VALUES (1, 'a/b'), (2, 'a?b=c&d'), (3, 'a#b'), (4, '..'), (5, '.'),
  (6, '%2F'), (7, '%00'), (8, 'a b+c'), (9, $$it's "quoted"$$), (10, E'a\r\nX-Injected: 1'),
  (11, repeat('x', 10240)), (12, 'lead_ünïcødé'), (13, ''), (14, NULL),
  (15, '../../_emulator/reset'), (16, '/lead_0000000000000000000001'), (17, '%2E%2E'),
  (18, E'tab\there'), (19, '😀'), (20, 'lead_a/b?c#d');
-- one lookup per id (NULL and '' name no object: no request); only the seeded ones exist
SELECT n, left(id, 20) AS id, (SELECT count(*) FROM sec_emu_lead l WHERE l.id = s.id) AS found
  FROM sec_ids s ORDER BY n;
-- the emulator got exactly one GET per id, each a single segment under /api/v1/lead/
CREATE FUNCTION sec_emu_log() RETURNS SETOF jsonb LANGUAGE sql AS
$$ SELECT jsonb_array_elements((close_raw('GET', '/requests', NULL, 'emu_control')).body) $$;
SELECT count(*) AS requests,
       count(*) FILTER (WHERE r->>'raw_path' ~ '^/api/v1/lead/[^/?#]+/$') AS one_segment,
       count(*) FILTER (WHERE r->>'query' = '_fields=id') AS only_fields_query,
       count(*) FILTER (WHERE r->>'method' = 'GET') AS gets
  FROM sec_emu_log() r;
SELECT s.n, r->>'path' = '/api/v1/lead/' || s.id || '/' AS decoded_path_is_id,
       left(r->>'raw_path', 40) AS raw_path
  FROM sec_ids s LEFT JOIN sec_emu_log() r ON r->>'path' = '/api/v1/lead/' || s.id || '/'
 ORDER BY s.n;
SELECT emu_clear();
-- a DELETE by a hostile id is one DELETE of that id, and deletes nothing
DELETE FROM sec_emu_lead WHERE id = '../../_emulator/reset';
DELETE FROM sec_emu_lead WHERE id = 'lead_0000000000000000000001/../lead_0000000000000000000002';
SELECT r->>'method' AS method, r->>'raw_path' AS raw_path, (r->>'status')::int AS status FROM sec_emu_log() r;
SELECT count(*) AS leads_left FROM emu_objects('lead');
SELECT emu_clear();
-- filter values are one query parameter each, whatever they hold
SELECT count(*) FROM sec_emu_contact WHERE lead_id = 'x&_limit=1&_skip=5#frag';
SELECT count(*) FROM sec_emu_contact WHERE lead_id = E'a=b\r\nX-Injected: 1';
SELECT r->'params'->'lead_id' AS lead_id, r->'params'->'_limit' AS lim,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r->'params') k) AS params
  FROM sec_emu_log() r;
SELECT emu_clear();

-- close_raw refuses what could leave base_url (more cases in sql/raw.sql)
SELECT close_raw('GET', 'http://127.0.0.1:1/api/v1/me/', NULL, 'emu');
SELECT close_raw('GET', '///evil.example.com/me/', NULL, 'emu');
SELECT close_raw('GET', E'/me/\t', NULL, 'emu');
SELECT close_raw('GET', E'/me/\x7f', NULL, 'emu');
SELECT close_raw('GET', ' /me/', NULL, 'emu');
SELECT close_raw('GET', '/%2e%2e/_emulator/reset', NULL, 'emu');
SELECT close_raw('GET', '/lead/.', NULL, 'emu');
SELECT close_raw('GET', '/lead/..?x=1', NULL, 'emu');
SELECT close_raw('GET', 'javascript:alert(1)', NULL, 'emu');
SELECT close_raw(E'GET\r\nX-Injected: 1', '/me/', NULL, 'emu');
SELECT close_raw(' GET', '/me/', NULL, 'emu');
SELECT close_raw('GET ', '/me/', NULL, 'emu');
SELECT close_raw('TRACE', '/me/', NULL, 'emu');
SELECT close_raw('CONNECT', '/me/', NULL, 'emu');
-- percent-encoded, they are just characters of the path, sent as they are
SELECT status FROM close_raw('GET', '/lead/a%0D%0AX-Injected:%201/', NULL, 'emu');
SELECT status FROM close_raw('GET', '/lead/%2F%2Fevil.example.com/', NULL, 'emu');
SELECT r->>'raw_path' AS raw_path, (r->>'status')::int AS status FROM sec_emu_log() r;
SELECT emu_clear();

-- Redirects are answers, never followed: not to another port, host or scheme,
-- not back to base_url; the other server gets nothing, Authorization or not.
-- (First, the other server does record what reaches it.)
CREATE SERVER sec_hostile FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'hostile_api');
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_hostile OPTIONS (api_key 'test_key_alpha');
SELECT status, body FROM close_raw('GET', '/me/', NULL, 'sec_hostile');
SELECT r->>'method' AS method, r->>'path' AS path, r->>'authorization' AS authorization FROM hostile_requests() r;
SELECT hostile_reset();
\set redirect_to :hostile_root '/api/v1/me/'
SELECT emu_fault(jsonb_build_object('path', '/api/v1/lead/lead_0000000000000000000001/', 'status', 302,
       'times', -1, 'headers', jsonb_build_object('Location', :'redirect_to')));
SELECT emu_fault(jsonb_build_object('path', '/api/v1/lead/', 'status', 307,
       'times', -1, 'headers', jsonb_build_object('Location', :'redirect_to')));
SELECT emu_fault(jsonb_build_object('path', '/api/v1/lead/lead_0000000000000000000002/', 'status', 308,
       'times', -1, 'headers', jsonb_build_object('Location', :'redirect_to')));
SELECT emu_fault('{"path": "/api/v1/me/", "status": 301, "times": -1, "headers": {"Location": "/api/v1/lead/lead_0000000000000000000003/"}}');
SELECT emu_fault('{"path": "/api/v1/user/", "status": 302, "times": -1, "headers": {"Location": "file:///etc/passwd"}}');
SELECT emu_fault('{"path": "/api/v1/pipeline/", "status": 302, "times": -1, "headers": {"Location": "ftp://127.0.0.1:21/x"}}');
SELECT * FROM sec_emu_lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) FROM sec_emu_lead;
DELETE FROM sec_emu_lead WHERE id = 'lead_0000000000000000000002';
SELECT status, headers->>'location' = :'redirect_to' AS location_kept, body
  FROM close_raw('GET', '/lead/lead_0000000000000000000001/', NULL, 'emu');
SELECT status, headers->>'location' = :'redirect_to' AS location_kept FROM close_raw('POST', '/lead/', '{"name": "x"}', 'emu');
SELECT status, headers->>'location' AS location FROM close_raw('GET', '/me/', NULL, 'emu');
SELECT status, headers->>'location' AS location FROM close_raw('GET', '/user/', NULL, 'emu');
SELECT status, headers->>'location' AS location FROM close_raw('GET', '/pipeline/', NULL, 'emu');
SELECT count(*) AS requests_at_redirect_target FROM hostile_requests();
SELECT r->>'method' AS method, r->>'raw_path' AS raw_path, (r->>'status')::int AS status FROM sec_emu_log() r;
SELECT emu_fault_clear();
SELECT emu_reset();

------------------------------------------------------------------------------
-- 3. Privileges
------------------------------------------------------------------------------
-- close_raw is not executable by PUBLIC after CREATE EXTENSION
SELECT count(*) AS public_grants
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.proname = 'close_raw' AND a.grantee = 0;
CREATE ROLE regress_sec_alice;
CREATE ROLE regress_sec_bob;
CREATE ROLE regress_sec_carol;
GRANT USAGE ON FOREIGN SERVER emu TO regress_sec_alice, regress_sec_bob;
CREATE USER MAPPING FOR regress_sec_alice SERVER emu OPTIONS (api_key 'test_key_alpha');
CREATE USER MAPPING FOR regress_sec_carol SERVER emu OPTIONS (api_key 'test_key_beta');
GRANT SELECT, DELETE ON sec_emu_lead TO regress_sec_alice, regress_sec_bob;
GRANT CREATE ON SCHEMA public TO regress_sec_alice;
-- a role with a user mapping uses the tables
SET ROLE regress_sec_alice;
SELECT display_name FROM sec_emu_lead WHERE id = 'lead_0000000000000000000001';
-- close_raw only once granted
SELECT status FROM close_raw('GET', '/me/', NULL, 'emu');
RESET ROLE;
GRANT EXECUTE ON FUNCTION close_raw(text, text, jsonb, text) TO regress_sec_alice;
SET ROLE regress_sec_alice;
SELECT status, body->>'id' AS close_user FROM close_raw('GET', '/me/');
-- another role's key is not readable: not the catalog, not the view
SELECT * FROM pg_user_mapping;
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'emu' AND usename LIKE 'regress%' ORDER BY usename;
-- the server owner decides where keys go: nobody else may redirect it,
-- or change another role's mapping
ALTER SERVER emu OPTIONS (SET base_url 'http://127.0.0.1:9/api/v1');
ALTER SERVER sec OPTIONS (SET base_url 'http://127.0.0.1:9/api/v1');
ALTER USER MAPPING FOR regress_sec_carol SERVER emu OPTIONS (SET api_key 'test_key_alpha');
DROP USER MAPPING FOR regress_sec_carol SERVER emu;
CREATE USER MAPPING FOR regress_sec_bob SERVER emu OPTIONS (api_key 'x');
DROP SERVER emu CASCADE;
CREATE SERVER sec_alice_own FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'hostile_api');
-- a view lends its owner's mapping (as with every FDW): alice lets bob read through hers
CREATE VIEW sec_alice_view AS SELECT id, display_name FROM sec_emu_lead;
GRANT SELECT ON sec_alice_view TO regress_sec_bob;
RESET ROLE;
-- a role without a mapping gets a clear error, for tables and close_raw
SET ROLE regress_sec_bob;
SELECT display_name FROM sec_emu_lead WHERE id = 'lead_0000000000000000000001';
SELECT close_raw('GET', '/me/', NULL, 'emu');
SELECT display_name FROM sec_alice_view WHERE id = 'lead_0000000000000000000001';
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'emu' AND usename LIKE 'regress%' ORDER BY usename;
RESET ROLE;
GRANT EXECUTE ON FUNCTION close_raw(text, text, jsonb, text) TO regress_sec_bob, regress_sec_carol;
SET ROLE regress_sec_bob;
SELECT close_raw('GET', '/me/', NULL, 'emu');
SELECT close_raw('GET', '/me/');
-- no USAGE on the server: refused even with close_raw
SELECT close_raw('GET', '/me/', NULL, 'sec');
RESET ROLE;
DROP USER MAPPING FOR regress_sec_carol SERVER emu;
-- a PUBLIC user mapping serves every role without its own; a role's own wins
CREATE SERVER sec_pub FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');
GRANT USAGE ON FOREIGN SERVER sec_pub TO PUBLIC;
CREATE USER MAPPING FOR PUBLIC SERVER sec_pub OPTIONS (api_key 'test_key_beta');
CREATE USER MAPPING FOR regress_sec_alice SERVER sec_pub OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE sec_pub_user (id text, first_name text) SERVER sec_pub OPTIONS (object 'user');
GRANT SELECT ON sec_pub_user TO PUBLIC;
SET ROLE regress_sec_carol;
SELECT body->>'id' AS close_user FROM close_raw('GET', '/me/');
SELECT first_name FROM sec_pub_user WHERE id = 'user_0000000000000000000002';
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'sec_pub' ORDER BY usename;
SET ROLE regress_sec_bob;
SELECT body->>'id' AS close_user FROM close_raw('GET', '/me/', NULL, 'sec_pub');
SET ROLE regress_sec_alice;
SELECT body->>'id' AS close_user FROM close_raw('GET', '/me/', NULL, 'sec_pub');
-- with two servers to choose from, close_raw needs the name
SELECT close_raw('GET', '/me/');
RESET ROLE;
-- each request carried a key the emulator knows
SELECT r->>'raw_path' AS raw_path, r->>'auth' AS auth FROM sec_emu_log() r;
SELECT emu_clear();
-- requests go through a proxy only if a superuser names one: not a server's
-- (non-superuser) owner, who cannot name a CA file either
CREATE ROLE regress_sec_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER closecrm_fdw TO regress_sec_owner;
SET ROLE regress_sec_owner;
CREATE SERVER sec_owned FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');
ALTER SERVER sec_owned OPTIONS (ADD proxy :'hostile_root');
ALTER SERVER sec_owned OPTIONS (ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
ALTER SERVER sec_owned OPTIONS (SET base_url 'http://10.0.0.1/api/v1');
RESET ROLE;
SELECT hostile_reset();
CREATE SERVER sec_proxied FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', proxy :'hostile_root', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_proxied OPTIONS (api_key 'test_key_alpha');
SELECT status, body FROM close_raw('GET', '/me/', NULL, 'sec_proxied');
SELECT r->>'method' AS method, r->>'path' LIKE 'http://127.0.0.1:%/api/v1/me/' AS via_proxy,
       r->>'authorization' AS authorization
  FROM hostile_requests() r;
SELECT count(*) AS requests_at_emulator FROM sec_emu_log();

------------------------------------------------------------------------------
-- The server log of this session holds no key, but did get everything.
------------------------------------------------------------------------------
SELECT position(canary() IN log) = 0 AS key_not_in_log,
       position('closecrm security marker' IN log) > 0 AS marker_in_log,
       position('DEBUG:' IN log) > 0 AS debug_in_log,
       position('statement: SELECT sec_try(''lookup 401''' IN log) > 0 AS statements_in_log,
       position('could not look up lead' IN log) > 0 AS errors_in_log
  FROM (SELECT pg_read_file(f, :log_start, (pg_stat_file(f)).size - :log_start) AS log
          FROM (SELECT '/proc/' || pg_backend_pid() || '/fd/2' AS f) p) l;
RESET log_statement;
RESET log_min_messages;
RESET log_min_error_statement;

-- clean up
SET client_min_messages = warning;
DROP OWNED BY regress_sec_alice, regress_sec_bob, regress_sec_carol, regress_sec_owner CASCADE;
DROP ROLE regress_sec_alice, regress_sec_bob, regress_sec_carol, regress_sec_owner;
DROP SERVER sec, sec_pub, sec_proxied, sec_hostile, sec_hostile_ctl CASCADE;
DROP FOREIGN TABLE sec_emu_lead, sec_emu_contact;
DROP TABLE sec_seen, sec_ids;
DROP FUNCTION canary(), sec_try(text, text), sec_emu_log(), hostile_reset(), hostile_requests();
RESET client_min_messages;
