-- HTTP errors become ERRORs with a SQLSTATE, Close's text in DETAIL, a HINT.
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT emu_reset();
CREATE FOREIGN TABLE lead (id text, display_name text) SERVER emu OPTIONS (object 'lead', use_search 'false');

-- 401: wrong key (the key never appears in the message)
CREATE SERVER emu_badkey FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_badkey OPTIONS (api_key 'secret_wrong_key_123');
CREATE FOREIGN TABLE lead_badkey (id text) SERVER emu_badkey OPTIONS (object 'lead', use_search 'false');
SELECT * FROM lead_badkey WHERE id = 'lead_0000000000000000000001';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT count(*) FROM lead_badkey;
DELETE FROM lead_badkey WHERE id = 'lead_0000000000000000000001';
-- close_raw returns the 401 as data
SELECT status, body FROM close_raw('GET', '/lead/', NULL, 'emu_badkey');

-- scripted failures: 403, 400, 402, 500 with an HTML page, 502 empty, 429 without headers
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 403, "body": "{\"error\": \"You do not have permission to view this lead.\"}"}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 400, "body": "{\"errors\": [\"Bad id.\"], \"field-errors\": {\"id\": \"Not valid.\"}}"}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 402, "body": "{\"error\": \"Upgrade your plan.\"}"}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 500, "times": 1, "body": "<html><body><h1>Internal Server Error</h1></body></html>"}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
-- 502 twice then success: retried, the query succeeds
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 502, "times": 2, "body": ""}');
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
-- 502 more often than max_retries allows: ERROR, never zero rows
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 502, "times": 3, "body": ""}');
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
-- 429 without headers, then success
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 429, "times": 1, "body": ""}');
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT method, path, status FROM emu_requests();
SELECT emu_clear();
-- a DELETE that fails is an ERROR too
SELECT emu_fault('{"method": "DELETE", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 403, "body": "{\"error\": \"Only admins can delete leads.\"}"}');
DELETE FROM lead WHERE id = 'lead_0000000000000000000001';

-- malformed responses
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 200, "body": "{\"id\": \"lead_0000000000000000000001\", \"display_na"}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 200, "body": "[1, 2, 3]"}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "status": 200, "body": "{\"has_more\": false}"}');
SELECT count(*) FROM lead;
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "status": 200, "body": "{\"data\": [], \"has_more\": \"no\"}"}');
SELECT count(*) FROM lead;
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/", "status": 200, "body": "{\"data\": [1], \"has_more\": false}"}');
SELECT count(*) FROM lead;

-- transport failures: nothing listening, a connection dropped mid-way
CREATE SERVER emu_down FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url 'http://127.0.0.1:9/api/v1', max_retries '1', connect_timeout '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_down OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_down (id text) SERVER emu_down OPTIONS (object 'lead', use_search 'false');
\set VERBOSITY terse
SELECT * FROM lead_down WHERE id = 'x';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT close_raw('GET', '/me/', NULL, 'emu_down');
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "drop": true, "times": -1}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault_clear();
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "truncate": true, "times": -1}');
SELECT * FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault_clear();
-- the timeout option bounds one request (retried once, then an ERROR)
CREATE SERVER emu_slow FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', timeout '0.3', max_retries '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_slow OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_slow (id text) SERVER emu_slow OPTIONS (object 'lead', use_search 'false');
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "delay": 3, "times": -1}');
SELECT emu_clear();
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM lead_slow WHERE id = 'lead_0000000000000000000001';
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2.5 s' AS gave_up_in_time;
SELECT count(*) AS attempts FROM emu_requests() WHERE path = '/api/v1/lead/lead_0000000000000000000001/' AND method = 'GET';
SELECT emu_reset();
\set VERBOSITY default
-- no user mapping
CREATE SERVER emu_nomap FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');
CREATE FOREIGN TABLE lead_nomap (id text) SERVER emu_nomap OPTIONS (object 'lead', use_search 'false');
SELECT * FROM lead_nomap WHERE id = 'x';
-- the backend is still fine
SELECT emu_reset();
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
DROP SERVER emu_badkey, emu_down, emu_nomap, emu_slow CASCADE;
DROP FOREIGN TABLE lead;
