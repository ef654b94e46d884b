-- Upgrades: the first release (0.1.0) installs, ALTER EXTENSION closecrm_fdw
-- UPDATE reaches the default version, and the updated extension has exactly
-- the objects of a fresh install: the same members, function definitions,
-- privileges (close_raw not executable by PUBLIC), types and comments.  The
-- comparison is generic, so it holds as objects are added to both the full
-- script and the update script.  Each install gets a database of its own.
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
SELECT current_database() AS home_db \gset

-- every version has a script, and there is an update path from 0.1.0
SELECT count(*) FILTER (WHERE v.version = '0.1.0') AS first_release,
       count(*) FILTER (WHERE v.version = e.default_version) AS default_version
  FROM pg_available_extension_versions v
  JOIN pg_available_extensions e ON e.name = v.name
 WHERE v.name = 'closecrm_fdw';
SELECT p.path IS NOT NULL AS update_path_from_first_release
  FROM pg_extension_update_paths('closecrm_fdw') p
  JOIN pg_available_extensions e ON e.name = 'closecrm_fdw' AND p.target = e.default_version
 WHERE p.source = '0.1.0';

-- Everything that describes the extension's objects, one line each.  The same
-- query runs in both databases.
SELECT $describe$
WITH ext AS (SELECT * FROM pg_extension WHERE extname = 'closecrm_fdw'),
members AS (
  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT string_agg(line, E'\n' ORDER BY line) AS objects FROM (
  SELECT 'extension: schema ' || ext.extnamespace::regnamespace || ', relocatable ' ||
         ext.extrelocatable || ', config ' || coalesce(ext.extconfig::text, '-') AS line FROM ext
  UNION ALL
  SELECT 'member: ' || pg_describe_object(classid, objid, objsubid) FROM members
  UNION ALL
  SELECT 'comment on ' || pg_describe_object(m.classid, m.objid, m.objsubid) || ': ' || d.description
    FROM members m JOIN pg_description d
      ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = m.objsubid
  UNION ALL
  SELECT 'function: ' || regexp_replace(pg_get_functiondef(p.oid), '\s+', ' ', 'g') ||
         ' acl ' || coalesce(p.proacl::text, 'default')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  UNION ALL
  SELECT 'type: ' || format_type(t.oid, NULL) || ' (' ||
         coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') ||
         ') acl ' || coalesce(t.typacl::text, 'default')
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
  UNION ALL
  SELECT 'relation: ' || c.oid::regclass || ' kind ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, 'default')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  SELECT 'foreign-data wrapper: ' || w.fdwname || ' handler ' || w.fdwhandler::regproc ||
         ' validator ' || w.fdwvalidator::regproc || ' options ' || coalesce(w.fdwoptions::text, '-') ||
         ' acl ' || coalesce(w.fdwacl::text, 'default')
    FROM members m JOIN pg_foreign_data_wrapper w
      ON m.classid = 'pg_foreign_data_wrapper'::regclass AND w.oid = m.objid
) lines
$describe$ AS describe \gset

--
-- The first release, then ALTER EXTENSION ... UPDATE, with a server, user
-- mapping and foreign table made under 0.1.0 still working afterwards.
--
CREATE DATABASE closecrm_upgraded;
\c closecrm_upgraded
CREATE EXTENSION closecrm_fdw VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'closecrm_fdw';
CREATE SERVER emu FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead (id text, display_name text) SERVER emu OPTIONS (object 'lead');
ALTER EXTENSION closecrm_fdw UPDATE;
SELECT x.extversion = a.default_version AS at_default_version
  FROM pg_extension x JOIN pg_available_extensions a ON a.name = x.extname
 WHERE x.extname = 'closecrm_fdw';
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT status FROM close_raw('GET', '/me/');
:describe \gset upgraded_
-- close_raw is still not executable by PUBLIC
SELECT has_function_privilege('public', 'close_raw(text, text, jsonb, text)', 'EXECUTE') AS public_may_run_close_raw;

--
-- A fresh install of the default version.
--
CREATE DATABASE closecrm_fresh;
\c closecrm_fresh
CREATE EXTENSION closecrm_fdw;
SELECT x.extversion = a.default_version AS at_default_version
  FROM pg_extension x JOIN pg_available_extensions a ON a.name = x.extname
 WHERE x.extname = 'closecrm_fdw';
:describe \gset fresh_
SELECT has_function_privilege('public', 'close_raw(text, text, jsonb, text)', 'EXECUTE') AS public_may_run_close_raw;

--
-- The two descriptions are the same: no line only in one of them.
--
\c :home_db
SELECT count(*) > 0 AS described,
       count(*) FILTER (WHERE line LIKE 'member: function close_raw(%') AS close_raw,
       count(*) FILTER (WHERE line LIKE 'member: foreign-data wrapper closecrm_fdw') AS fdw
  FROM unnest(string_to_array(:'fresh_objects', E'\n')) line;
(SELECT 'only after update' AS side, line FROM unnest(string_to_array(:'upgraded_objects', E'\n')) line
 EXCEPT ALL
 SELECT 'only after update', line FROM unnest(string_to_array(:'fresh_objects', E'\n')) line)
UNION ALL
(SELECT 'only in fresh install', line FROM unnest(string_to_array(:'fresh_objects', E'\n')) line
 EXCEPT ALL
 SELECT 'only in fresh install', line FROM unnest(string_to_array(:'upgraded_objects', E'\n')) line)
ORDER BY 1, 2;

DROP DATABASE closecrm_upgraded;
DROP DATABASE closecrm_fresh;
