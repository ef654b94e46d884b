-- The fallback when closecrm_fdw is not in shared_preload_libraries (run by
-- test/ratelimit_local.sh in a cluster without it, not in REGRESS): each
-- backend keeps its own rate-limit state and says so; a new session knows
-- nothing of the window another one spent, runs into Close's 429, and
-- waits it out (no error, even with max_retries 0).
\set VERBOSITY default
\getenv emulator_root CLOSE_EMULATOR_URL
\set api_url :emulator_root '/api/v1'
SELECT emu_reset();
CREATE SERVER ses FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER ses OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE ses_lead (id text, display_name text) SERVER ses OPTIONS (object 'lead', use_search 'false');
SELECT current_setting('shared_preload_libraries') LIKE '%closecrm_fdw%' AS preloaded;

-- Close allows 5 lookups per 3 s; this session spends them
SELECT (close_raw('POST', '/config', '{"rate_limit": {"limit": 5, "window": 3}}', 'emu_control')).status AS config;
SELECT array_agg(o->>'id') AS ids5 FROM (SELECT o FROM emu_objects('lead') o LIMIT 5) s \gset
SELECT emu_clear();
SELECT count(*) FROM ses_lead WHERE id = ANY(:'ids5'::text[]);
SELECT count(*) FILTER (WHERE status = 200) AS answered FROM emu_requests();
SELECT request_limit, remaining, shared
  FROM closecrm_fdw_rate_limits() WHERE server_name = 'ses' AND endpoint_group = 'GET lead/{id}';
-- a new session knows nothing of it ...
\c
SELECT count(*) AS known FROM closecrm_fdw_rate_limits() WHERE server_name = 'ses';
-- ... so its lookup draws a 429, which it waits out
SELECT emu_clear();
SELECT display_name FROM ses_lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) AS sent, count(*) FILTER (WHERE status = 429) AS rate_limited FROM emu_requests();
SELECT retries, rate_limited, rate_limit_wait_ms > 0 AS waited FROM closecrm_fdw_stats() WHERE server_name = 'ses';

DROP SERVER ses CASCADE;
SELECT emu_reset();
