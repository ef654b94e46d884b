/* closecrm_fdw--0.2.0--0.3.0.sql: ALTER EXTENSION closecrm_fdw UPDATE from 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION closecrm_fdw UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0 keeps every object of 0.2.0 and adds or changes the ones below.
-- Each change goes here as the same statements as in closecrm_fdw--0.3.0.sql,
-- so that an updated installation ends up with exactly the objects of a
-- fresh one (sql/upgrade.sql checks that).

-- closecrm_objects() tells how many typed columns IMPORT FOREIGN SCHEMA gives
-- each table and whether its objects carry fields the catalog cannot list.
DROP FUNCTION closecrm_objects();
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
