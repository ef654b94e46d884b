-- One API key, many sessions.  closecrm_fdw is in shared_preload_libraries
-- in this cluster (test/lib.sh), so the backends that send with one key
-- share what they know of its rate limits; test/ratelimit_local.sh runs
-- sessions_local.sql in a cluster without it.  Also: a 429 that says when
-- to retry is waited out without counting against max_retries; waits are
-- reported as wall time; idle connections are kept for a whole read-ahead.
\set VERBOSITY default
\getenv emulator_root CLOSE_EMULATOR_URL
\set api_url :emulator_root '/api/v1'
SELECT emu_reset();
CREATE SERVER ses FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER ses OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE ses_lead (id text, display_name text) SERVER ses OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE ses_contact (id text, name text) SERVER ses OPTIONS (object 'contact', use_search 'false');
-- set the emulator's config: true, or the suite fails
CREATE FUNCTION ses_config(cfg jsonb) RETURNS boolean LANGUAGE sql AS
$$ SELECT (close_raw('POST', '/config', cfg, 'emu_control')).status = 200 $$;
-- EXPLAIN ANALYZE as JSON: the top plan node, and the execution time
CREATE FUNCTION ses_explain(query text) RETURNS jsonb LANGUAGE plpgsql AS
$$ DECLARE j json;
   BEGIN EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO j; RETURN j::jsonb -> 0; END $$;

-- 1. Two sessions, one window.  Close allows 5 lookups per 3 s here; this
-- session spends them ...
SELECT ses_config('{"rate_limit": {"limit": 5, "window": 3}}');
SELECT array_agg(o->>'id') AS ids5 FROM (SELECT o FROM emu_objects('lead') o LIMIT 5) s \gset
SELECT emu_clear();
SELECT count(*) FROM ses_lead WHERE id = ANY(:'ids5'::text[]);
SELECT count(*) FILTER (WHERE status = 200) AS answered FROM emu_requests();
SELECT request_limit, remaining, reset_in_ms BETWEEN 1 AND 3000 AS resets_soon, shared
  FROM closecrm_fdw_rate_limits() WHERE server_name = 'ses' AND endpoint_group = 'GET lead/{id}';
-- ... and a new session (another backend) knows it
\c
SELECT request_limit, remaining, shared
  FROM closecrm_fdw_rate_limits() WHERE server_name = 'ses' AND endpoint_group = 'GET lead/{id}';
-- so it waits for the window to reset instead of drawing a 429
SELECT emu_clear();
SELECT display_name FROM ses_lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) AS sent, count(*) FILTER (WHERE status = 429) AS rate_limited FROM emu_requests();
-- the state holds no key: a role without a user mapping sees none of it
CREATE ROLE ses_other;
SET ROLE ses_other;
SELECT count(*) AS visible FROM closecrm_fdw_rate_limits();
RESET ROLE;
DROP ROLE ses_other;

-- 2. A 429 that says when to retry is a wait, not a failure: with
-- max_retries 0, two of them in a row are waited out
SELECT ses_config('{"rate_limit": {"limit": 100000, "window": 1}}');
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 429, "times": 2, "headers": {"Retry-After": "1"}}');
SELECT emu_clear();
SELECT display_name FROM ses_lead WHERE id = 'lead_0000000000000000000001';
SELECT status FROM emu_requests();
-- a 429 that does not say when is a failure, counted against max_retries
SELECT emu_fault('{"method": "GET", "path": "/api/v1/lead/lead_0000000000000000000001/", "status": 429, "times": 1}');
SELECT display_name FROM ses_lead WHERE id = 'lead_0000000000000000000001';
-- statement_timeout ends a wait, whatever Close asked for
SELECT emu_fault('{"method": "GET", "path": "/api/v1/ses_block/", "status": 429, "times": -1, "headers": {"Retry-After": "30"}}');
SET statement_timeout = '1s';
SELECT status FROM close_raw('GET', '/ses_block/', NULL, 'ses');
RESET statement_timeout;
SELECT emu_fault_clear();

-- 3. Waits are wall time: 12 lookups under 4 per second, 8 at a time,
-- wait about 2 s in all, however many requests wait together
SELECT ses_config('{"rate_limit": {"limit": 4, "window": 1}}');
SELECT array_agg(o->>'id') AS ids12 FROM (SELECT o FROM emu_objects('lead') o LIMIT 12) s \gset
SELECT closecrm_fdw_stats_reset();
SELECT clock_timestamp() AS t0 \gset
SELECT ses_explain(format('SELECT count(*) FROM ses_lead WHERE id = ANY(%L::text[])', :'ids12')) AS plan \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000 AS elapsed_ms \gset
SELECT (:'plan'::jsonb #>> '{Plan,Plans,0,Actual Rows}')::numeric::int AS found,
       (:'plan'::jsonb #>> '{Plan,Plans,0,Close Rate-Limit Wait}')::float8 > 500 AS waited,
       (:'plan'::jsonb #>> '{Plan,Plans,0,Close Rate-Limit Wait}')::float8
         <= (:'plan'::jsonb ->> 'Execution Time')::float8 AS wait_within_execution;
SELECT rate_limit_wait_ms > 500 AS waited, rate_limit_wait_ms <= :elapsed_ms AS wait_within_elapsed
  FROM closecrm_fdw_stats() WHERE server_name = 'ses';

-- 4. Idle connections: at least max_concurrency are kept, so a listing
-- that reads 8 pages at a time opens no more than 8 in all (25 pages of 10
-- leads, requests overlapping at 20 ms each)
SELECT ses_config('{"rate_limit": {"limit": 100000, "window": 1}, "latency_ms": 20}');
ALTER SERVER ses OPTIONS (ADD page_size '10');
SET closecrm_fdw.max_idle_connections = 2;
SELECT count(*) FROM ses_lead;
SELECT closecrm_fdw_stats_reset();
SELECT emu_clear();
SELECT count(*) FROM ses_lead;
SELECT connections_opened AS opened FROM closecrm_fdw_stats() WHERE server_name = 'ses';
SELECT count(DISTINCT connection) AS connections, emu_max_overlap() > 4 AS overlapped FROM emu_requests();
RESET closecrm_fdw.max_idle_connections;

DROP SERVER ses CASCADE;
DROP FUNCTION ses_config(jsonb), ses_explain(text);
SELECT emu_reset();
