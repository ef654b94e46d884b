/* closecrm_fdw--0.3.0.sql: the objects of closecrm_fdw 0.3.0, for CREATE EXTENSION */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION closecrm_fdw" to load this file. \quit

CREATE FUNCTION closecrm_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION closecrm_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER closecrm_fdw
  HANDLER closecrm_fdw_handler
  VALIDATOR closecrm_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER closecrm_fdw IS 'Close CRM REST API';

CREATE TYPE close_response AS (status int, headers jsonb, body jsonb);

CREATE FUNCTION close_raw(method text, url text, body jsonb DEFAULT NULL,
                          server_name text DEFAULT NULL)
RETURNS close_response
AS 'MODULE_PATHNAME'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION close_raw(text, text, jsonb, text) IS
  'send one request to the Close API with the caller''s API key; every HTTP status is returned as data';

-- close_raw can reach any endpoint the caller's key allows: grant it explicitly.
REVOKE EXECUTE ON FUNCTION close_raw(text, text, jsonb, text) FROM PUBLIC;

CREATE FUNCTION closecrm_fdw_version()
RETURNS text
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT STABLE;

-- The object catalog: every Close collection a foreign table can name, with
-- the number of typed columns IMPORT FOREIGN SCHEMA gives its table and
-- whether its objects carry fields the catalog cannot list.
CREATE FUNCTION closecrm_objects(
  OUT object text, OUT table_name text,
  OUT can_get boolean, OUT can_list boolean, OUT can_create boolean,
  OUT can_update boolean, OUT can_delete boolean,
  OUT delete_status int, OUT paging text,
  OUT required_filters text[], OUT filters text[], OUT id_param text,
  OUT key_field text, OUT typed_columns int, OUT open_fields boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT IMMUTABLE;

-- The fields of every catalog object: the typed columns IMPORT FOREIGN SCHEMA
-- creates, and whether real objects may lack the field.
CREATE FUNCTION closecrm_fields(
  OUT object text, OUT field text, OUT type text, OUT optional boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT IMMUTABLE;

-- New in 0.2.0.  Objects added in 0.2.0 go below, and the same statements
-- go into closecrm_fdw--0.1.0--0.2.0.sql, so that ALTER EXTENSION
-- closecrm_fdw UPDATE gives an existing 0.1.0 installation exactly what a
-- fresh install has (sql/upgrade.sql checks that).

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

-- New in 0.3.0.

-- What is known of Close's rate limits for the API keys of the current
-- user's user mappings (shared by all sessions when closecrm_fdw is in
-- shared_preload_libraries).
CREATE FUNCTION closecrm_fdw_rate_limits(
  OUT server_name text, OUT endpoint_group text, OUT request_limit bigint,
  OUT remaining bigint, OUT reset_in_ms bigint, OUT blocked_for_ms bigint,
  OUT shared boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
