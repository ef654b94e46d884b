-- Every SQL example of README.md, in order, as a new user would run them:
-- in a fresh database, against the emulator (tools/readme_sql.py points the
-- README's server at it, gives its user mapping a test key and runs EXPLAIN
-- through explain_stable(); nothing else is changed).  The pg_cron section
-- runs in sql/cron.sql.  Any change to the README's SQL shows up here.
\set VERBOSITY default
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
\set api_key test_key_alpha
SELECT current_database() AS home_db \gset
SELECT emu_reset();
CREATE DATABASE closecrm_readme;
\c closecrm_readme
\set ECHO none
\i test/explain_stable.sql
\set ECHO all
\! python3 tools/readme_sql.py --skip-section 'Scheduled jobs with pg_cron' > results/readme_examples.sql
\i results/readme_examples.sql
\c :home_db
DROP DATABASE closecrm_readme;
DROP ROLE analyst;
SELECT emu_reset();
