-- Option validation: names, places, values, with hints.
\set VERBOSITY default

-- unknown option, with a did-you-mean hint
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_ulr 'https://api.close.com/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (colour 'red');
-- option in the wrong place
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (object 'lead');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead', api_key 'x');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead', timeout '5');
CREATE USER MAPPING FOR PUBLIC SERVER emu OPTIONS (api_key 'k', page_size '5');
-- base_url: https, or http to loopback only; no credentials, query or fragment
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://api.close.com/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'ftp://127.0.0.1/x');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'not a url');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'https://key:@api.close.com/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'https://api.close.com/api/v1?x=1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://10.0.0.1/api/v1');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://127.0.0.1.example.com/api/v1');
CREATE SERVER ok1 FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'https://api.close.com/api/v1/');
CREATE SERVER ok2 FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://localhost:8080/api/v1');
CREATE SERVER ok3 FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://[::1]:8080/api/v1');
CREATE SERVER ok4 FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://127.1.2.3/api/v1');
DROP SERVER ok1, ok2, ok3, ok4;
-- numbers: not a number, out of range, not whole
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout 'soon');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '0');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (timeout '-3');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (connect_timeout '1e9');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_retries '2.5');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_retries '101');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (max_concurrency '0');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (page_size '1001');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (page_size '');
CREATE SERVER bad FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (updatable 'maybe');
CREATE SERVER ok5 FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (timeout '2.5', connect_timeout '1', max_retries '0', max_concurrency '64', page_size '1000', updatable 'off');
ALTER SERVER ok5 OPTIONS (SET page_size 'x');
ALTER SERVER ok5 OPTIONS (SET page_size '50');
-- user mappings need an api_key; the value never shows in messages
CREATE USER MAPPING FOR CURRENT_USER SERVER ok5;
CREATE USER MAPPING FOR CURRENT_USER SERVER ok5 OPTIONS (api_key '');
CREATE USER MAPPING FOR CURRENT_USER SERVER ok5 OPTIONS (api_key 'secret_value_with space');
CREATE USER MAPPING FOR CURRENT_USER SERVER ok5 OPTIONS (api_key 'secret_value_x');
ALTER USER MAPPING FOR CURRENT_USER SERVER ok5 OPTIONS (DROP api_key);
DROP SERVER ok5 CASCADE;
-- tables need a known object; the hint names the closest ones
CREATE FOREIGN TABLE bad (id text) SERVER emu;
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'leads');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'note');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'lead_status');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object '/lead/');
CREATE FOREIGN TABLE bad (id text) SERVER emu OPTIONS (object 'xyzzy_plugh');
CREATE FOREIGN TABLE t_ok (id text, name text OPTIONS (field 'display_name'))
  SERVER emu OPTIONS (object 'activity/note', updatable 'false');
ALTER FOREIGN TABLE t_ok OPTIONS (DROP object);
ALTER FOREIGN TABLE t_ok OPTIONS (SET object 'status/lead');
ALTER FOREIGN TABLE t_ok ALTER COLUMN name OPTIONS (SET field '');
ALTER FOREIGN TABLE t_ok ALTER COLUMN name OPTIONS (SET fieldname 'x');
DROP FOREIGN TABLE t_ok;
-- the wrapper itself takes no options
ALTER FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (ADD base_url 'https://api.close.com/api/v1');
-- version
SELECT closecrm_fdw_version() ~ '^closecrm_fdw [0-9.]+, libcurl/[0-9.]+.*, cJSON [0-9.]+$' AS version_ok;
