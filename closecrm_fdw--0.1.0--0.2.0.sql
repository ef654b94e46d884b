/* closecrm_fdw--0.1.0--0.2.0.sql: ALTER EXTENSION closecrm_fdw UPDATE from 0.1.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION closecrm_fdw UPDATE TO '0.2.0'" to load this file. \quit

-- 0.2.0 keeps every object of 0.1.0 and adds the ones below.  Objects added
-- in 0.2.0 go here, as the same statements as in closecrm_fdw--0.2.0.sql, so
-- that an updated installation ends up with exactly the objects of a fresh
-- one (sql/upgrade.sql checks that).

-- What this backend's requests to Close cost, per server (kept in memory).
CREATE FUNCTION closecrm_fdw_stats(
  OUT server_name text, OUT requests bigint,
  OUT get_requests bigint, OUT post_requests bigint, OUT put_requests bigint,
  OUT patch_requests bigint, OUT delete_requests bigint,
  OUT status_2xx bigint, OUT status_3xx bigint, OUT status_4xx bigint,
  OUT status_5xx bigint, OUT transport_errors bigint, OUT retries bigint,
  OUT rate_limited bigint, OUT rate_limit_wait_ms bigint,
  OUT bytes_in bigint, OUT bytes_out bigint, OUT connections_opened bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION closecrm_fdw_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
