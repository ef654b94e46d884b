-- Hostile or broken responses, each against a lookup, a listing, a delete
-- and close_raw: a clear ERROR (or the documented success) every time, the
-- backend stays up, nothing waits much beyond the timeout option.
-- Faults come from the emulator's faults API, and from test/hostile_server.py
-- (CLOSE_HOSTILE_URL) for bytes the emulator cannot send.
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set hostile_root `echo "$CLOSE_HOSTILE_URL"`
\set api_url :emulator_root '/api/v1'
\set hostile_api :hostile_root '/api/v1'
\set hostile_ctl :hostile_root '/_hostile'
\set VERBOSITY default
-- a regression must fail this suite, not hang it
SET statement_timeout = '120s';
SELECT emu_reset();

-- timeout 1 s, one retry; a second server that takes at most 2048 bytes
CREATE SERVER flt FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', timeout '1', connect_timeout '1', max_retries '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER flt OPTIONS (api_key 'test_key_alpha');
CREATE SERVER flt_small FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '0', max_response_size '2048');
CREATE USER MAPPING FOR CURRENT_USER SERVER flt_small OPTIONS (api_key 'test_key_alpha');
CREATE SERVER flt_hostile FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'hostile_api', timeout '1', max_retries '1', max_response_size '65536');
CREATE USER MAPPING FOR CURRENT_USER SERVER flt_hostile OPTIONS (api_key 'test_key_alpha');
CREATE SERVER flt_hostile_ctl FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'hostile_ctl', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER flt_hostile_ctl OPTIONS (api_key 'unused');
CREATE FOREIGN TABLE flt_lead (id text, display_name text, date_created timestamptz,
  employees numeric OPTIONS (field 'custom.cf_lead_number'), n int OPTIONS (field 'n'), attrs jsonb)
  SERVER flt OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE flt_small_lead (id text, display_name text) SERVER flt_small OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE flt_hostile_lead (id text, display_name text, date_created timestamptz,
  employees numeric OPTIONS (field 'custom.cf_lead_number'), n int OPTIONS (field 'n'), attrs jsonb)
  SERVER flt_hostile OPTIONS (object 'lead', use_search 'false');

-- One statement per target; {t} is the table, {s} the server.  The whole
-- row is used, so every column is converted.
CREATE TABLE flt_target (n int, target text, method text, path text, stmt text);
INSERT INTO flt_target VALUES
 (1, 'lookup', 'GET', '/api/v1/lead/lead_0000000000000000000001/',
  $$SELECT 'rows=' || count(*) || coalesce(' name=' || max(display_name), '') FROM {t} t WHERE id = 'lead_0000000000000000000001' AND t::text <> ''$$),
 (2, 'listing', 'GET', '/api/v1/lead/',
  $$SELECT 'rows=' || count(*) FROM {t} t WHERE t::text <> ''$$),
 (3, 'delete', 'DELETE', '/api/v1/lead/lead_0000000000000000000001/',
  $$WITH d AS (DELETE FROM {t} WHERE id = 'lead_0000000000000000000001' RETURNING id) SELECT 'deleted=' || count(*) FROM d$$),
 (4, 'close_raw', 'GET', '/api/v1/lead/lead_0000000000000000000001/',
  $$SELECT 'status=' || status || ' body=' || coalesce(jsonb_typeof(body), 'NULL') FROM close_raw('GET', '/lead/lead_0000000000000000000001/', NULL, '{s}')$$);

-- Run one fault against every target: the outcome (or the error's SQLSTATE
-- and message), whether it came back within a bound, and that the session
-- still answers afterwards.
CREATE FUNCTION flt_run(rule jsonb, srv text DEFAULT 'flt', tbl text DEFAULT 'flt_lead',
                        bound interval DEFAULT '10 s')
RETURNS TABLE (target text, outcome text, in_time boolean, alive boolean)
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  t0 timestamptz;
  res text;
BEGIN
  FOR t IN SELECT * FROM flt_target ORDER BY n LOOP
    IF srv = 'flt_hostile' THEN
      PERFORM close_raw('POST', '/reset', NULL, 'flt_hostile_ctl');
      PERFORM close_raw('POST', '/script', rule || '{"times": -1}', 'flt_hostile_ctl');
    ELSE
      PERFORM emu_fault(jsonb_build_object('method', t.method, 'path', t.path, 'times', -1) || rule);
    END IF;
    t0 := clock_timestamp();
    BEGIN
      EXECUTE replace(replace(t.stmt, '{t}', tbl), '{s}', srv) INTO res;
      outcome := 'ok: ' || res;
    EXCEPTION WHEN query_canceled THEN
      RAISE;
    WHEN OTHERS THEN
      outcome := 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
    END;
    in_time := clock_timestamp() - t0 < bound;
    PERFORM emu_fault_clear();
    IF t.target = 'delete' THEN
      PERFORM emu_reset();		-- a delete that got through
    END IF;
    PERFORM close_raw('POST', '/reset', NULL, 'flt_hostile_ctl');
    EXECUTE 'SELECT true' INTO alive;
    target := t.target;
    RETURN NEXT;
  END LOOP;
END $$;

-- the matrix's baseline: no fault
SELECT * FROM flt_run('{"delay": 0.01}');

-- truncated JSON: a complete HTTP answer whose body stops half-way
SELECT * FROM flt_run('{"status": 200, "body": "{\"id\": \"lead_0000000000000000000001\", \"display_name\": \"Acme"}');
-- the connection closes half-way through the body (Content-Length promised more): retried, then an ERROR
SELECT * FROM flt_run('{"truncate": true}');
-- JSON of the wrong shape
SELECT * FROM flt_run('{"status": 200, "body": "[{\"id\": \"lead_0000000000000000000001\"}]"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"has_more\": false}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": {\"id\": \"x\"}, \"has_more\": false}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [], \"has_more\": \"no\"}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [], \"has_more\": true}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [\"lead_1\", 2, null], \"has_more\": false}"}');
SELECT * FROM flt_run('{"status": 200, "body": "null"}');
SELECT * FROM flt_run('{"status": 200, "body": "{} {}"}');
-- wrong value types for typed columns (the listing page and the object alike)
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [{\"id\": \"lead_0000000000000000000001\", \"display_name\": \"x\", \"date_created\": \"the day before\"}], \"has_more\": false, \"id\": \"lead_0000000000000000000001\", \"date_created\": \"the day before\"}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [{\"id\": \"lead_0000000000000000000001\", \"n\": 1e300}], \"has_more\": false, \"id\": \"lead_0000000000000000000001\", \"n\": 1e300}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [{\"id\": \"lead_0000000000000000000001\", \"custom.cf_lead_number\": \"1,250\"}], \"has_more\": false, \"id\": \"lead_0000000000000000000001\", \"custom.cf_lead_number\": \"1,250\"}"}');
SELECT * FROM flt_run('{"status": 200, "body": "{\"data\": [{\"id\": [\"a\"], \"display_name\": {\"a\": 1}}], \"has_more\": false, \"id\": [\"a\"], \"display_name\": {\"a\": 1}}"}');
-- a body larger than max_response_size (2048 here); Acme with its children is larger
SELECT * FROM flt_run('{"delay": 0.01}', 'flt_small', 'flt_small_lead');
SELECT * FROM flt_run(jsonb_build_object('status', 200, 'body', repeat(' ', 5000) || '{}'), 'flt_small', 'flt_small_lead');
SELECT * FROM flt_run(jsonb_build_object('status', 500, 'body', repeat('<p>error</p>', 1000)), 'flt_small', 'flt_small_lead');
-- not JSON, with 200
SELECT * FROM flt_run('{"status": 200, "body": "<html><body>Maintenance</body></html>", "headers": {"Content-Type": "text/html"}}');
-- the server accepts the request and never answers (timeout 1 s, tried twice)
SELECT * FROM flt_run('{"hang": true, "seconds": 20}', bound => '15 s');
-- the connection is closed without an answer
SELECT * FROM flt_run('{"drop": true}');
-- 3xx to another host
SELECT * FROM flt_run('{"status": 302, "headers": {"Location": "http://127.0.0.1:9/api/v1/lead/"}}');
-- 500 with an HTML page; 500, 502, 503 and 504 with nothing
SELECT * FROM flt_run('{"status": 500, "body": "<!DOCTYPE html><html><head><title>500</title></head><body><h1>Internal Server Error</h1>\n<p>Sorry.</p></body></html>", "headers": {"Content-Type": "text/html"}}');
SELECT * FROM flt_run('{"status": 500}');
SELECT * FROM flt_run('{"status": 502}');
SELECT * FROM flt_run('{"status": 503, "body": "", "headers": {"Retry-After": "0"}}');
SELECT * FROM flt_run('{"status": 504, "body": "upstream timed out"}');
-- 429 without any header (backoff, one retry, then an ERROR); with a Retry-After in the past or nonsense
SELECT * FROM flt_run('{"status": 429}');
SELECT * FROM flt_run('{"status": 429, "headers": {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "RateLimit": "limit=, remaining=x, reset=-5"}}');
-- statuses nobody expects
SELECT * FROM flt_run('{"status": 204}');
SELECT * FROM flt_run('{"status": 404, "body": "{\"error\": \"Empty query: Lead matching query does not exist.\"}"}');
SELECT * FROM flt_run('{"status": 418, "body": "{\"error\": {\"teapot\": true}}"}');
SELECT * FROM flt_run('{"status": 599, "body": "{\"errors\": [1, {\"x\": null}], \"field-errors\": {\"a\": [\"b\"]}}"}');

-- Bytes the emulator cannot send, from the hostile server
-- invalid UTF-8: in a string value, and as the whole body
SELECT * FROM flt_run('{"body_hex": "7b226964223a226c6561645f30303030303030303030303030303030303030303031222c22646973706c61795f6e616d65223a2241636d65ff222c2264617461223a5b7b226964223a226c6561645f31222c22646973706c61795f6e616d65223a22c0af227d5d2c226861735f6d6f7265223a66616c73657d"}', 'flt_hostile', 'flt_hostile_lead');
SELECT * FROM flt_run('{"body_hex": "fffe00c328"}', 'flt_hostile', 'flt_hostile_lead');
-- an error body with invalid UTF-8, NULs and control characters: quoted safely
SELECT * FROM flt_run('{"status": 400, "body_hex": "7b226572726f72223a7b2278223a22ff00227d7d"}', 'flt_hostile', 'flt_hostile_lead');
SELECT * FROM flt_run('{"status": 400, "body_hex": "00ff0d0a1b5b316d4f6f7073"}', 'flt_hostile', 'flt_hostile_lead');
-- \u0000 in a string: read as U+FFFD, never a cut-short value
SELECT * FROM flt_run('{"body": "{\"id\": \"lead_0000000000000000000001\", \"display_name\": \"Ac\\u0000me\", \"data\": [{\"id\": \"lead_1\", \"display_name\": \"a\\u0000\"}], \"has_more\": false}"}', 'flt_hostile', 'flt_hostile_lead');
-- the connection is reset (TCP RST) in the middle of the body
SELECT * FROM flt_run('{"body": "{\"data\": [], \"has_more\": false, \"id\": \"lead_0000000000000000000001\"}", "repeat": 1, "content_length": 100000, "cut_after": 20}', 'flt_hostile', 'flt_hostile_lead');
-- no Content-Length, body ends when the connection closes: a complete answer
SELECT * FROM flt_run('{"body": "{\"data\": [], \"has_more\": false, \"id\": \"lead_0000000000000000000001\"}", "content_length": null}', 'flt_hostile', 'flt_hostile_lead');
-- a gzip bomb: 50 MB of zeros in 50 KB; the limit applies to what it inflates to
SELECT * FROM flt_run('{"body": "0", "repeat": 50000000, "gzip": true}', 'flt_hostile', 'flt_hostile_lead');
-- a body that is not the gzip it says it is
SELECT * FROM flt_run('{"body": "{}", "headers": {"Content-Encoding": "gzip"}}', 'flt_hostile', 'flt_hostile_lead');
-- 2 MB of headers
SELECT * FROM flt_run(jsonb_build_object('body', '{}', 'headers',
  (SELECT jsonb_object_agg('X-Pad-' || i, repeat('p', 1000)) FROM generate_series(1, 2000) i)),
  'flt_hostile', 'flt_hostile_lead');
-- header values with invalid UTF-8 and escapes: close_raw's headers stay an object
SELECT close_raw('POST', '/script', '{"body": "{}", "headers": {"X-Odd": "caf\u00e9 \\u0000 \"q\""}, "headers_hex": {"X-Bytes": "41ff80c3"}}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT status, jsonb_typeof(headers) AS headers, headers->>'x-odd' AS x_odd,
       headers->>'x-bytes' AS x_bytes, body
  FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
-- a NUL in a header is not HTTP: a transport ERROR
SELECT close_raw('POST', '/script', '{"body": "{}", "headers_hex": {"X-Nul": "4100"}}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT status FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
SELECT close_raw('POST', '/reset', NULL, 'flt_hostile_ctl') IS NOT NULL AS reset;
-- a JSON body jsonb cannot hold exactly: trailing bytes, leading zeros, a plus sign; and one it can
SELECT close_raw('POST', '/script', '{"rules": [{"body": "{\"a\": 1} x"}, {"body": "{\"a\": 01}"}, {"body": "+1"}, {"body": "{\"a\": \"x\\\\u0000\"}"}]}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT status, body, jsonb_typeof(body) FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
SELECT status, body, jsonb_typeof(body) FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
SELECT status, body, jsonb_typeof(body) FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
SELECT status, body, jsonb_typeof(body) FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
-- a number numeric cannot hold: an ERROR that says where it came from
SELECT close_raw('POST', '/script', '{"body": "{\"a\": 1e999999}"}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT status, body FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
-- nesting deeper than any JSON parser here accepts: a JSON string, not a crash
SELECT close_raw('POST', '/script', jsonb_build_object('body', repeat('[', 30000) || repeat(']', 30000)), 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT status, jsonb_typeof(body), length(body #>> '{}') FROM close_raw('GET', '/me/', NULL, 'flt_hostile');
SELECT close_raw('POST', '/script', jsonb_build_object('body', '{"id": "lead_0000000000000000000001", "display_name": ' || repeat('[', 5000) || repeat(']', 5000) || '}'), 'flt_hostile_ctl') IS NOT NULL AS scripted;
\set VERBOSITY terse
SELECT id, display_name FROM flt_hostile_lead WHERE id = 'lead_0000000000000000000001';
\set VERBOSITY default

-- What some of these ERRORs say in full
SELECT close_raw('POST', '/script', '{"times": -1, "body_hex": "7b226964223a226c6561645f78222c22646973706c61795f6e616d65223a2241636d65ff227d"}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT * FROM flt_hostile_lead WHERE id = 'lead_x';
SELECT close_raw('POST', '/reset', NULL, 'flt_hostile_ctl') IS NOT NULL AS reset;
-- (a listing row's id with invalid UTF-8: the context shows it escaped)
SELECT close_raw('POST', '/script', '{"times": -1, "body_hex": "7b2264617461223a205b7b226964223a20226c6561645fff0a227d5d2c20226861735f6d6f7265223a2066616c73657d"}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT id FROM flt_hostile_lead;
SELECT close_raw('POST', '/reset', NULL, 'flt_hostile_ctl') IS NOT NULL AS reset;
SELECT close_raw('POST', '/script', '{"times": -1, "status": 403, "body_hex": "7b226572726f72223a7b226d657373616765223a224e6fff00742068657265227d7d"}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT id FROM flt_hostile_lead WHERE id = 'lead_x';
SELECT close_raw('POST', '/reset', NULL, 'flt_hostile_ctl') IS NOT NULL AS reset;
SELECT close_raw('POST', '/script', '{"times": -1, "body": "{}", "content_length": 100000, "cut_after": 2}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT id FROM flt_hostile_lead WHERE id = 'lead_x';
SELECT close_raw('POST', '/reset', NULL, 'flt_hostile_ctl') IS NOT NULL AS reset;
SELECT close_raw('POST', '/script', '{"times": -1, "body": "{}", "headers": {"Content-Encoding": "gzip"}}', 'flt_hostile_ctl') IS NOT NULL AS scripted;
SELECT id FROM flt_hostile_lead WHERE id = 'lead_x';
SELECT close_raw('POST', '/reset', NULL, 'flt_hostile_ctl') IS NOT NULL AS reset;
SELECT emu_fault('{"path": "/api/v1/lead/lead_0000000000000000000001/", "status": 200, "times": -1, "body": "{\"id\": \"lead_0000000000000000000001\", \"custom.cf_lead_number\": \"1,250\"}"}');
SELECT employees FROM flt_lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault_clear();
-- a lookup answered with an object that is not the one asked for (no id,
-- another id): an ERROR, never zero rows
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 200, "times": -1, "body": "{\"display_name\": \"Not a lead\"}"}');
SELECT count(*) FROM flt_lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault_clear();
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 200, "times": -1, "body": "{\"id\": \"lead_0000000000000000000002\", \"display_name\": \"Another lead\"}"}');
SELECT count(*) FROM flt_lead WHERE id = 'lead_0000000000000000000001';
SELECT emu_fault_clear();

-- the session is fine, and so is the emulator
SELECT 1 AS alive;
SELECT emu_reset();
SELECT display_name FROM flt_lead WHERE id = 'lead_0000000000000000000001';

RESET statement_timeout;
SET client_min_messages = warning;
DROP SERVER flt, flt_small, flt_hostile, flt_hostile_ctl CASCADE;
DROP TABLE flt_target;
DROP FUNCTION flt_run(jsonb, text, text, interval);
RESET client_min_messages;
