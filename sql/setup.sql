-- Shared setup for the suites: a server on the Close emulator, a second
-- server on the emulator's control API, and helpers to read its request log.
\set emulator_root `echo "$CLOSE_EMULATOR_URL"`
\set api_url :emulator_root '/api/v1'
\set control_url :emulator_root '/_emulator'

CREATE SERVER emu FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'api_url', max_retries '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (api_key 'test_key_alpha');

CREATE SERVER emu_control FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url :'control_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu_control OPTIONS (api_key 'unused');

-- restore the emulator's seed data, empty its request log, drop faults
CREATE FUNCTION emu_reset() RETURNS void LANGUAGE sql AS
$$ SELECT close_raw('POST', '/reset', NULL, 'emu_control') $$;
CREATE FUNCTION emu_clear() RETURNS void LANGUAGE sql AS
$$ SELECT close_raw('POST', '/requests/clear', NULL, 'emu_control') $$;
-- the API requests the emulator received since the last clear, in order
CREATE FUNCTION emu_requests(OUT method text, OUT path text, OUT query text,
                             OUT body jsonb, OUT connection int, OUT status int)
RETURNS SETOF record LANGUAGE sql AS
$$ SELECT r->>'method', r->>'raw_path', r->>'query', r->'body',
          (r->>'connection')::int, (r->>'status')::int
     FROM jsonb_array_elements((close_raw('GET', '/requests', NULL, 'emu_control')).body) r
    ORDER BY (r->>'seq')::int $$;
-- the largest number of API requests the emulator was serving at once
-- (computed from the logged start and end times)
CREATE FUNCTION emu_max_overlap() RETURNS bigint LANGUAGE sql AS
$$ WITH r AS (SELECT (x->>'seq')::int AS seq, (x->>'t_start')::float8 AS t0, (x->>'t_end')::float8 AS t1
                FROM jsonb_array_elements((close_raw('GET', '/requests', NULL, 'emu_control')).body) x)
   SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM r a JOIN r b ON b.t0 <= a.t0 AND b.t1 > a.t0
                                     GROUP BY a.seq) s $$;
-- script a fault (see test/EMULATOR.md)
CREATE FUNCTION emu_fault(rule jsonb) RETURNS void LANGUAGE sql AS
$$ SELECT close_raw('POST', '/faults', rule, 'emu_control') $$;
CREATE FUNCTION emu_fault_clear() RETURNS void LANGUAGE sql AS
$$ SELECT close_raw('DELETE', '/faults', NULL, 'emu_control') $$;
CREATE FUNCTION emu_objects(collection text) RETURNS SETOF jsonb LANGUAGE sql AS
$$ SELECT jsonb_array_elements((close_raw('GET', '/objects/' || collection, NULL, 'emu_control')).body) $$;
-- EXPLAIN printed the same on every PostgreSQL version (for EXPLAIN ANALYZE
-- and plans with joins)
\set ECHO none
\i test/explain_stable.sql
\set ECHO all

SELECT emu_reset();
SELECT count(*) > 0 AS emulator_up FROM emu_objects('lead');
