-- Bad input from users: each is a clear ERROR with a useful HINT, or (for
-- conditions Close cannot apply) the right rows, filtered locally.
-- sql/options.sql, sql/raw.sql, sql/delete.sql and sql/modify.sql hold the
-- cases that belong to their features; these are the rest.
\set VERBOSITY default
SELECT emu_reset();

------------------------------------------------------------------------------
-- Options with wrong values
------------------------------------------------------------------------------
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_response_size '1023');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_response_size '64MB');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_response_size '2147483648');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_response_size '1e3');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout 'inf');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout 'NaN');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '0x10');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '1e-9');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '86401');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '5 s');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (connect_timeout '0');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (connect_timeout '3601');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_retries '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_retries 'five');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_concurrency '65');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_concurrency '1.5');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (page_size '0');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (page_size '-100');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (updatable '');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '1', timeout '2');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (field 'name');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS ("BASE_URL" 'https://api.close.com/api/v1');
-- base_url: only http(s), http only to this machine, nothing but scheme, host, port and path
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'https://');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'file:///etc/passwd');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'gopher://127.0.0.1/');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'HTTP://10.0.0.1/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://127.0.0.1@evil.example.com/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://evil.example.com#@127.0.0.1/');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://localhost.evil.example.com/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://[::ffff:10.0.0.1]/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'https://api.close.com:99999/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url E'https://api.close.com/api/v1\n');
-- a proxy is an http(s) URL
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (proxy 'socks5://127.0.0.1:1080');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (proxy 'proxy.example.com:3128');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (proxy '');
-- user mappings, tables and columns
CREATE USER MAPPING FOR PUBLIC SERVER emu OPTIONS (api_key 'k', updatable 'false');
CREATE USER MAPPING FOR PUBLIC SERVER emu OPTIONS (api_key 'k', api_key 'k2');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object '');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'LEAD');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead ');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead/../user');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead', field 'id');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead', updatable 'sometimes');
CREATE FOREIGN TABLE bad (id text OPTIONS (object 'lead')) SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE bad (id text OPTIONS (api_key 'k')) SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE bad (id text OPTIONS (field 'a', field 'b')) SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE bad (id text OPTIONS (updatable 'false')) SERVER emu OPTIONS (object 'lead');
-- a column reads nothing from a path with an empty segment (not the whole object)
CREATE FOREIGN TABLE bad_paths (id text, a text OPTIONS (field '.'), b text OPTIONS (field 'addresses..city'),
  c text OPTIONS (field 'addresses.'), d text OPTIONS (field 'addresses.99999999999.city'),
  e text OPTIONS (field 'addresses.0.city')) SERVER emu OPTIONS (object 'lead');
SELECT a, b, c, d, e FROM bad_paths WHERE id = 'lead_0000000000000000000001';
DROP FOREIGN TABLE bad_paths;

------------------------------------------------------------------------------
-- Conditions: wrong types are PostgreSQL's errors; what Close cannot filter
-- is filtered here, with the same rows as a local copy gives
------------------------------------------------------------------------------
CREATE FOREIGN TABLE bi_lead (id text, display_name text, status_label text,
  date_created timestamptz, employees numeric OPTIONS (field 'custom.cf_lead_number'), attrs jsonb)
  SERVER emu OPTIONS (object 'lead');
CREATE FOREIGN TABLE bi_contact (id text, lead_id text, name text) SERVER emu OPTIONS (object 'contact');
SELECT emu_clear();
SELECT * FROM bi_lead WHERE id = 42;
SELECT * FROM bi_lead WHERE id = ANY('{1,2}'::int[]);
SELECT * FROM bi_lead WHERE date_created = 'last tuesday';
SELECT * FROM bi_lead WHERE employees = 'many';
SELECT * FROM bi_lead WHERE attrs = 1;
SELECT * FROM bi_lead WHERE id = 'lead_0000000000000000000001'::int;
SELECT count(*) AS requests FROM emu_requests();
-- a comparison with the right type but no such object is zero rows, not an error
SELECT count(*) FROM bi_lead WHERE id = 42::text;

CREATE TEMP TABLE bi_local AS SELECT id, display_name, status_label, date_created, employees FROM bi_lead;
SELECT count(*) AS local_copy FROM bi_local;
-- rows that differ between the foreign table and the local copy, for one condition
CREATE FUNCTION bi_differs(cond text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((SELECT id, display_name FROM bi_lead WHERE %1$s
                    EXCEPT ALL SELECT id, display_name FROM bi_local WHERE %1$s)
                   UNION ALL (SELECT id, display_name FROM bi_local WHERE %1$s
                    EXCEPT ALL SELECT id, display_name FROM bi_lead WHERE %1$s)) d', cond) INTO n;
  RETURN n;
END $$;
CREATE FUNCTION bi_matching(cond text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM bi_local WHERE %s', cond) INTO n;
  RETURN n;
END $$;
SELECT cond, bi_matching(cond) AS matching, bi_differs(cond) AS differing
  FROM unnest(ARRAY[
    $$id LIKE 'lead_0%'$$,
    $$display_name ILIKE '%corp%'$$,
    $$id <> 'lead_0000000000000000000001'$$,
    $$id > 'lead_m'$$,
    $$id IS NULL$$,
    $$id IS NOT NULL$$,
    $$(id = 'lead_0000000000000000000001' OR display_name = 'Acme Corporation')$$,
    $$lower(id) = 'lead_0000000000000000000001'$$,
    $$id || '' = 'lead_0000000000000000000001'$$,
    $$id ~ '^lead_[a-z]'$$,
    $$id IN (SELECT id FROM bi_local WHERE display_name LIKE 'A%')$$,
    $$display_name = id$$,
    $$length(id) > 27$$,
    $$date_created > '2024-05-01'$$,
    $$employees >= 1000$$,
    $$status_label IS DISTINCT FROM 'Potential'$$,
    $$id = 'lead_0000000000000000000001'::varchar$$,
    $$NOT (id = 'lead_0000000000000000000001')$$
  ]) cond;
-- a pushed-down filter next to one that is not
SELECT count(*) AS contacts FROM bi_contact
 WHERE lead_id = 'lead_0000000000000000000001' AND name NOT LIKE 'Jos%';

------------------------------------------------------------------------------
-- NULL and empty ids name no object: no request, no row, no error
------------------------------------------------------------------------------
SELECT emu_clear();
SELECT count(*) FROM bi_lead WHERE id = NULL;
SELECT count(*) FROM bi_lead WHERE id = '';
SELECT count(*) FROM bi_lead WHERE id = ANY(ARRAY[NULL, NULL, '']::text[]);
SELECT count(*) FROM bi_lead WHERE id IN (NULL, 'lead_0000000000000000000001', '');
SELECT count(*) FROM bi_contact WHERE lead_id = NULL;
PREPARE bi_by_id(text) AS SELECT count(*) FROM bi_lead WHERE id = $1;
SET plan_cache_mode = force_generic_plan;
EXECUTE bi_by_id(NULL);
EXECUTE bi_by_id('');
RESET plan_cache_mode;
DEALLOCATE bi_by_id;
DELETE FROM bi_lead WHERE id = NULL;
DELETE FROM bi_lead WHERE id = '';
UPDATE bi_lead SET employees = 1 WHERE id = NULL;
SELECT method, path FROM emu_requests();
SELECT emu_clear();

------------------------------------------------------------------------------
-- Changes that cannot be made (more in sql/modify.sql and sql/delete.sql)
------------------------------------------------------------------------------
CREATE SERVER bi_ro FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://127.0.0.1:9/api/v1', updatable 'false');
CREATE FOREIGN TABLE bi_ro_lead (id text, name text) SERVER bi_ro OPTIONS (object 'lead');
DELETE FROM bi_ro_lead WHERE id = 'lead_0000000000000000000001';
UPDATE bi_ro_lead SET name = 'x' WHERE id = 'lead_0000000000000000000001';
INSERT INTO bi_ro_lead (name) VALUES ('x');
-- the table can still say yes where the server says no
ALTER FOREIGN TABLE bi_ro_lead OPTIONS (ADD updatable 'true');
SELECT table_name, is_insertable_into FROM information_schema.tables WHERE table_name = 'bi_ro_lead';
CREATE FOREIGN TABLE bi_user (id text, email text) SERVER emu OPTIONS (object 'user');
INSERT INTO bi_user (email) VALUES ('x@example.com');
UPDATE bi_user SET email = 'x@example.com' WHERE id = 'user_0000000000000000000001';
CREATE FOREIGN TABLE bi_status (label text) SERVER emu OPTIONS (object 'status/lead');
DELETE FROM bi_status WHERE label = 'Potential';
-- values Close cannot take
UPDATE bi_lead SET attrs = '[1, 2]' WHERE id = 'lead_0000000000000000000001';
INSERT INTO bi_lead (attrs) VALUES ('"a string"');
INSERT INTO bi_lead (attrs) VALUES ('null');
UPDATE bi_lead SET employees = 'NaN' WHERE id = 'lead_0000000000000000000001';
CREATE FOREIGN TABLE bi_lead_f (id text, score float8 OPTIONS (field 'custom.cf_lead_number'),
  scores float8[] OPTIONS (field 'custom.cf_lead_multi')) SERVER emu OPTIONS (object 'lead');
UPDATE bi_lead_f SET score = 'Infinity' WHERE id = 'lead_0000000000000000000001';
UPDATE bi_lead_f SET scores = '{1, NaN}' WHERE id = 'lead_0000000000000000000001';
SELECT count(*) AS requests FROM emu_requests();

------------------------------------------------------------------------------
-- close_raw with bad arguments (more in sql/raw.sql)
------------------------------------------------------------------------------
SELECT close_raw('   ', '/me/', NULL, 'emu');
SELECT close_raw('GET', '   ', NULL, 'emu');
SELECT close_raw('GET', '/', NULL, '');
SELECT close_raw('POST', '/lead/', 'null', 'emu');
SELECT close_raw('POST', '/lead/', '42', 'emu');
SELECT close_raw('POST', '/lead/', 'true', 'emu');
SELECT close_raw('POST', '/lead/', '[]', 'emu');
CREATE FOREIGN DATA WRAPPER bi_other;
CREATE SERVER bi_not_close FOREIGN DATA WRAPPER bi_other;
SELECT close_raw('GET', '/me/', NULL, 'bi_not_close');
SELECT count(*) AS requests FROM emu_requests();
-- an empty object is a body; the method is case-blind; a very long url is Close's problem
SELECT status FROM close_raw('post', '/lead/', '{}', 'emu');
SELECT status FROM close_raw('GET', '/lead/' || repeat('x', 100000) || '/', NULL, 'emu');
SELECT method, left(path, 20) AS path, status FROM emu_requests();

-- clean up
DROP FOREIGN TABLE bi_lead, bi_contact, bi_user, bi_status, bi_lead_f;
DROP SERVER bi_ro CASCADE;
DROP SERVER bi_not_close;
DROP FOREIGN DATA WRAPPER bi_other;
DROP FUNCTION bi_differs(text), bi_matching(text);
SELECT emu_reset();
