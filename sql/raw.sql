-- close_raw: any method and endpoint, every status returned as data.
\set VERBOSITY default
SELECT emu_reset();

-- GET of a collection and of one object; the trailing slash is added
SELECT status, headers->>'content-type' AS content_type,
       jsonb_typeof(body->'data') AS data, body ? 'has_more' AS has_more
  FROM close_raw('GET', '/lead/?_limit=2', NULL, 'emu');
SELECT status, body->>'id' AS id FROM close_raw('GET', '/lead/lead_a%2Fb%3Fc%23d', NULL, 'emu');
-- a missing object is a 404 row, not an ERROR
SELECT status, body FROM close_raw('GET', '/lead/lead_missing/', NULL, 'emu');
-- headers: final response only, lower-case names, RateLimit included
SELECT headers ? 'ratelimit' AS has_ratelimit,
       (SELECT bool_and(k = lower(k)) FROM jsonb_object_keys(headers) k) AS all_lower
  FROM close_raw('GET', '/lead/?_limit=1', NULL, 'emu');
-- POST with a JSON body, PUT partial update, DELETE 200 {} and 204 empty
SELECT status AS post_status, body->>'name' AS post_name, body->>'id' AS raw_id
  FROM close_raw('POST', '/lead/', '{"name": "Raw Ltd"}', 'emu') \gset
SELECT :'post_status' AS status, :'post_name' AS name, :'raw_id' LIKE 'lead_%' AS has_id;
SELECT count(*) AS stored FROM emu_objects('lead') o WHERE o->>'id' = :'raw_id' AND o->>'name' = 'Raw Ltd';
SELECT status, body->>'name' AS name, body->>'description' AS description
  FROM close_raw('put', '/lead/' || :'raw_id' || '/', '{"description": "updated"}', 'emu');
SELECT status, body FROM close_raw('DELETE', '/lead/' || :'raw_id' || '/', NULL, 'emu');
SELECT status, body FROM close_raw('DELETE', '/lead/' || :'raw_id' || '/', NULL, 'emu');
-- PATCH is sent as such; Close answers 405 for it here, returned as data
SELECT status, body FROM close_raw('PATCH', '/lead/lead_0000000000000000000001/', '{"name": "x"}', 'emu');
-- a non-JSON body comes back as a JSON string; an empty one as NULL
SELECT emu_fault('{"method": "GET", "path": "/api/v1/me/", "status": 200, "body": "plain <b>text</b>", "headers": {"Content-Type": "text/plain"}}');
SELECT status, body, jsonb_typeof(body) FROM close_raw('GET', '/me/', NULL, 'emu');
SELECT emu_fault('{"method": "GET", "path": "/api/v1/me/", "status": 503, "body": "", "times": 3}');
SELECT status, body IS NULL AS body_is_null FROM close_raw('GET', '/me/', NULL, 'emu');
-- the requests as the emulator saw them
SELECT method, path, query, body FROM emu_requests();
SELECT emu_clear();

-- server_name NULL: the one server with a user mapping (here: two, so ambiguous)
SELECT status FROM close_raw('GET', '/me/');
-- bad input
SELECT close_raw(NULL, '/me/', NULL, 'emu');
SELECT close_raw('', '/me/', NULL, 'emu');
SELECT close_raw('FETCH', '/me/', NULL, 'emu');
SELECT close_raw('GET /x HTTP/1.1', '/me/', NULL, 'emu');
SELECT close_raw('GET', NULL, NULL, 'emu');
SELECT close_raw('GET', '', NULL, 'emu');
SELECT close_raw('GET', 'https://evil.example.com/me/', NULL, 'emu');
SELECT close_raw('GET', '//evil.example.com/me/', NULL, 'emu');
SELECT close_raw('GET', 'me/', NULL, 'emu');
SELECT close_raw('GET', E'/me/\r\nX-Injected: 1', NULL, 'emu');
SELECT close_raw('GET', '/me/ x', NULL, 'emu');
SELECT close_raw('GET', '/me/#frag', NULL, 'emu');
SELECT close_raw('GET', '/../_emulator/requests/', NULL, 'emu');
SELECT close_raw('GET', '/lead/%2e%2E/', NULL, 'emu');
SELECT close_raw('GET', '/lead\x/', NULL, 'emu');
SELECT close_raw('POST', '/lead/', '[1, 2]', 'emu');
SELECT close_raw('POST', '/lead/', '"text"', 'emu');
SELECT close_raw('GET', '/me/', NULL, 'no_such_server');
-- nothing above reached the emulator
SELECT count(*) AS requests_sent FROM emu_requests();
