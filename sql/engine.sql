-- The HTTP engine: read-ahead, rate limits, connection cache, response
-- size bound, TLS, and the counters of closecrm_fdw_stats().
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
SELECT emu_reset();
SELECT closecrm_fdw_stats_reset();

CREATE FOREIGN TABLE lead (id text, display_name text) SERVER emu OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE contact (id text, lead_id text) SERVER emu OPTIONS (object 'contact', use_search 'false');

-- counters: one lookup (200), one miss (404), one listing of 3 pages
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) FROM lead WHERE id = 'lead_missing';
SELECT count(*) FROM lead;
SELECT server_name, requests, get_requests, post_requests, status_2xx, status_4xx, status_5xx,
       transport_errors, retries, rate_limited, bytes_in > 1000 AS bytes_in, bytes_out > 100 AS bytes_out,
       connections_opened >= 1 AS connected
  FROM closecrm_fdw_stats() WHERE server_name = 'emu';
SELECT closecrm_fdw_stats_reset();
SELECT count(*) AS servers FROM closecrm_fdw_stats();
-- the counters live in memory: they work in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT requests FROM closecrm_fdw_stats() WHERE server_name = 'emu';
COMMIT;
SELECT emu_clear();

-- read-ahead: after the first page, the next pages of a listing whose total
-- Close reports (leads) are requested together (2, then 4, ... at once), in
-- order, none fetched twice
SELECT close_raw('POST', '/config', '{"latency_ms": 40}', 'emu_control') IS NOT NULL AS slow;
SELECT count(*), count(DISTINCT id) FROM lead;
SELECT count(*) AS pages, count(DISTINCT query) AS distinct_pages, emu_max_overlap() > 1 AS overlapped
  FROM emu_requests();
SELECT string_agg(split_part(query, '&', 1), ' ' ORDER BY split_part(split_part(query, '&', 1), '=', 2)::int) AS skips
  FROM emu_requests();
SELECT emu_clear();
-- without a total (contacts), one page at a time: nothing past the short
-- last page is requested
SELECT count(*), count(DISTINCT id) FROM contact;
SELECT count(*) AS pages, emu_max_overlap() AS max_in_flight,
       string_agg(split_part(query, '&', 1), ' ' ORDER BY split_part(split_part(query, '&', 1), '=', 2)::int) AS skips
  FROM emu_requests();
SELECT emu_reset();

-- rate limits: with 4 requests per second allowed, 10 lookups pace
-- themselves (RateLimit remaining) and retry the 429s they still get:
-- every row comes back
SELECT close_raw('POST', '/config', '{"rate_limit": {"limit": 4, "window": 1}}', 'emu_control') IS NOT NULL AS limited;
SELECT closecrm_fdw_stats_reset();
SELECT array_agg(o->>'id') AS lead_ids FROM (SELECT o FROM emu_objects('lead') o LIMIT 10) s \gset
SELECT count(*) FROM lead WHERE id = ANY(:'lead_ids'::text[]);
SELECT requests - rate_limited AS answered, rate_limit_wait_ms > 500 AS waited
  FROM closecrm_fdw_stats() WHERE server_name = 'emu';
SELECT count(*) FILTER (WHERE status = 200) AS ok FROM emu_requests();
SELECT emu_reset();

-- the connection cache: kept across statements, rebuilt when the user
-- mapping changes
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(DISTINCT connection) AS connections_before FROM emu_requests();
ALTER USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (SET api_key 'test_key_beta');
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
ALTER USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (SET api_key 'test_key_alpha');
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(DISTINCT connection) AS connections_after FROM emu_requests();
-- ... and when the server changes
ALTER SERVER emu OPTIONS (ADD timeout '29');
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
ALTER SERVER emu OPTIONS (DROP timeout);
SELECT count(DISTINCT connection) AS connections_after_server_change FROM emu_requests();
-- closecrm_fdw.max_idle_connections = 0 closes each connection after use
SET closecrm_fdw.max_idle_connections = 0;
SELECT emu_clear();
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(DISTINCT connection) AS one_connection_each FROM emu_requests();
RESET closecrm_fdw.max_idle_connections;
SELECT emu_clear();
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(*) FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT count(DISTINCT connection) AS kept_alive_again FROM emu_requests();
RESET closecrm_fdw.max_idle_connections;
SET closecrm_fdw.max_idle_connections = 1000;
SET closecrm_fdw.no_such_setting = 1;
SELECT emu_clear();

-- max_response_size: a larger answer is an ERROR, not memory exhaustion
CREATE SERVER emu_small FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_response_size '2048', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_small OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_small (id text, attrs jsonb) SERVER emu_small OPTIONS (object 'lead', use_search 'false');
SELECT count(*) FROM lead_small WHERE id = 'lead_a/b?c#d';
SELECT count(*) FROM lead_small;
SELECT status FROM close_raw('GET', '/lead/', NULL, 'emu_small');
DROP SERVER emu_small CASCADE;

-- HTTPS: verified against ca_file (superuser only), refused without it
\set tls_root `echo "$CLOSE_EMULATOR_TLS_URL"`
\set tls_ca `echo "$CLOSE_EMULATOR_CA"`
\set tls_url :tls_root '/api/v1'
CREATE SERVER emu_tls FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'tls_url', ca_file :'tls_ca', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_tls OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_tls (id text, display_name text) SERVER emu_tls OPTIONS (object 'lead', use_search 'false');
SELECT display_name FROM lead_tls WHERE id = 'lead_0000000000000000000001';
SELECT status, body->>'email' AS email FROM close_raw('GET', '/me/', NULL, 'emu_tls');
ALTER SERVER emu_tls OPTIONS (DROP ca_file);
\set VERBOSITY terse
SELECT display_name FROM lead_tls WHERE id = 'lead_0000000000000000000001';
\set VERBOSITY default
ALTER SERVER emu_tls OPTIONS (ADD ca_file '/no/such/file.pem');
ALTER SERVER emu_tls OPTIONS (ADD ca_file 'relative.pem');
CREATE ROLE closecrm_engine_user;
GRANT USAGE ON FOREIGN DATA WRAPPER closecrm_fdw TO closecrm_engine_user;
SET ROLE closecrm_engine_user;
CREATE SERVER emu_tls2 FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (ca_file :'tls_ca');
CREATE SERVER emu_tls2 FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'tls_url');
ALTER SERVER emu_tls2 OPTIONS (ADD ca_file :'tls_ca');
DROP SERVER emu_tls2;
RESET ROLE;
REVOKE USAGE ON FOREIGN DATA WRAPPER closecrm_fdw FROM closecrm_engine_user;
DROP ROLE closecrm_engine_user;
DROP SERVER emu_tls CASCADE;

DROP FOREIGN TABLE lead, contact;
