-- Every catalog object against the emulator: lookup by id sends exactly one
-- GET /{object}/{id}/ and finds the object; delete by id sends exactly one
-- DELETE and no GET; objects that cannot do either are refused up front.
\set VERBOSITY default
SELECT emu_reset();

SELECT count(*) AS objects, count(*) FILTER (WHERE can_get) AS gettable,
       count(*) FILTER (WHERE can_delete) AS deletable,
       count(*) FILTER (WHERE can_list) AS listable
  FROM closecrm_objects();
-- a few entries as generated from openapi.json
SELECT object, table_name, can_get, can_list, can_create, can_update, can_delete,
       delete_status, paging, required_filters
  FROM closecrm_objects()
 WHERE object IN ('lead', 'activity/note', 'status/lead', 'custom_object', 'comment',
                  'event', 'user', 'pipeline', 'unsubscribe/email', 'bulk_action/email')
 ORDER BY object;

CREATE TABLE catalog_results (object text, action text, rows bigint, requests text);
CREATE FUNCTION emu_ids(collection text) RETURNS SETOF text LANGUAGE sql AS
$$ SELECT jsonb_array_elements_text((close_raw('GET', '/ids', NULL, 'emu_control')).body->collection) $$;

DO $$
DECLARE
  o record;
  some_id text;
  n bigint;
  reqs text;
BEGIN
  FOR o IN SELECT * FROM closecrm_objects() WHERE can_get OR can_delete ORDER BY object LOOP
    EXECUTE format('CREATE FOREIGN TABLE %I (id text OPTIONS (field %L), attrs jsonb) SERVER emu OPTIONS (object %L)',
                   'cat_' || o.table_name, o.key_field,
                   o.object);
    some_id := (SELECT i FROM emu_ids(o.object) i LIMIT 1);
    IF o.can_get THEN
      PERFORM emu_clear();
      EXECUTE format('SELECT count(*) FROM %I WHERE id = $1 AND attrs IS NOT NULL', 'cat_' || o.table_name)
        INTO n USING some_id;
      SELECT string_agg(method || ' ' || replace(path, some_id, '{id}'), ', ') INTO reqs FROM emu_requests();
      INSERT INTO catalog_results VALUES (o.object, 'lookup', n, reqs);
    END IF;
    IF o.can_delete THEN
      PERFORM emu_clear();
      EXECUTE format('DELETE FROM %I WHERE id = $1', 'cat_' || o.table_name) USING some_id;
      GET DIAGNOSTICS n = ROW_COUNT;
      SELECT string_agg(method || ' ' || replace(replace(path, some_id, '{id}'),
                        replace(replace(some_id, '@', '%40'), 'ë', '%C3%AB'), '{id}') || ' ' || status, ', ')
        INTO reqs FROM emu_requests();
      INSERT INTO catalog_results VALUES (o.object, 'delete', n, reqs);
    END IF;
  END LOOP;
END $$;

-- every lookup found its object with one GET, every delete one DELETE
SELECT action, count(*) AS objects, sum(rows) AS rows,
       bool_and(requests = CASE action WHEN 'lookup' THEN 'GET /api/v1/' || object || '/{id}/'
                                      ELSE 'DELETE /api/v1/' || object || '/{id}/ ' ||
                                           (SELECT delete_status FROM closecrm_objects() c WHERE c.object = r.object) END)
         AS exact_requests
  FROM catalog_results r GROUP BY action ORDER BY action;
SELECT * FROM catalog_results ORDER BY object, action;

-- the refused ones: no GET by id, no DELETE
CREATE FOREIGN TABLE cat_unsubscribe_email_ (email text) SERVER emu OPTIONS (object 'unsubscribe/email');
SELECT * FROM cat_unsubscribe_email_ WHERE email = 'unsubscribed@customer.example';
CREATE FOREIGN TABLE cat_event_ (id text) SERVER emu OPTIONS (object 'event');
DELETE FROM cat_event_ WHERE id = 'ev_0000000000000000000001';
CREATE FOREIGN TABLE cat_activity_ (id text) SERVER emu OPTIONS (object 'activity');
SELECT * FROM cat_activity_ WHERE id = 'acti_0000000000000000000001';
