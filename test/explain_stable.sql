-- explain_stable(options, query): the lines of EXPLAIN (options) query as
-- every supported PostgreSQL version prints them, for the suites (setup.sql)
-- and the README's examples (readme.sql).  ANALYZE gets BUFFERS OFF (18
-- turns it on) and whole row counts, rounded as before 18 (18 prints
-- rows=0.86 where 17 prints rows=1); a filter that is one equality between
-- two columns has them in alphabetical order (16 and later print the
-- parameterized side first, 15 and earlier the outer side).
CREATE FUNCTION explain_stable(options text, query text)
RETURNS TABLE ("QUERY PLAN" text) LANGUAGE plpgsql AS $$
DECLARE
  line text;
  m text[];
BEGIN
  IF options ~* '\manalyze\M' THEN
    options := options || ', BUFFERS OFF';
  END IF;
  IF options <> '' THEN
    options := '(' || options || ')';
  END IF;
  FOR line IN EXECUTE format('EXPLAIN %s %s', options, query) LOOP
    FOR m IN SELECT regexp_matches(line, 'rows=(\d+\.\d+)', 'g') LOOP
      line := replace(line, 'rows=' || m[1], 'rows=' || round(m[1]::float8));
    END LOOP;
    m := regexp_match(line, '^(\s*(?:Join )?Filter: \()([\w.]+) = ([\w.]+)\)$');
    IF m IS NOT NULL AND m[2] COLLATE "C" > m[3] THEN
      line := m[1] || m[3] || ' = ' || m[2] || ')';
    END IF;
    "QUERY PLAN" := line;
    RETURN NEXT;
  END LOOP;
END $$;
