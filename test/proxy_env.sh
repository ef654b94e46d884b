#!/usr/bin/env bash
# Does a proxy set in the PostgreSQL server's environment (http_proxy,
# HTTPS_PROXY, ALL_PROXY, ...) receive closecrm_fdw's requests, and with
# them the API key?  Starts a cluster whose postmaster has every proxy
# variable pointing at test/hostile_server.py, sends a lookup and a
# close_raw to the emulator (an http://127.0.0.1 base_url), and checks that
# the hostile server got nothing.  Prints "test proxy_env ... ok/FAILED".
#
#   bash test/proxy_env.sh [OUTDIR]
#
# Needs CLOSE_EMULATOR_URL and CLOSE_HOSTILE_URL; PG_VIRTUALENV_OPTS as in
# test/security_log.sh.  (Before src/http.c set CURLOPT_PROXY, libcurl took
# the proxy from the environment and this failed: both requests, each with
# its Authorization header, went to the "proxy".)
set -u
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/closecrm_proxy.XXXXXX)}
mkdir -p "$out"
chmod 755 "$out"

cat > "$out/proxy.sql" <<EOF
CREATE EXTENSION closecrm_fdw;
CREATE SERVER emu FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url '$CLOSE_EMULATOR_URL/api/v1', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead (id text, display_name text) SERVER emu OPTIONS (object 'lead');
SELECT display_name FROM lead WHERE id = 'lead_0000000000000000000001';
SELECT status, body->>'id' AS me FROM close_raw('GET', '/me/', NULL, 'emu');
EOF
hostile() {							# hostile PATH [METHOD]: its control API, no proxy
	python3 - "$CLOSE_HOSTILE_URL/_hostile/$1" "${2:-GET}" <<'PY'
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"" if sys.argv[2] == "POST" else None)
print(opener.open(req).read().decode())
PY
}
hostile reset POST > /dev/null

# shellcheck disable=SC2086
pg_virtualenv -t -v 15 ${PG_VIRTUALENV_OPTS:-} bash -c '
	env=$PG_CLUSTER_CONF_ROOT/15/regress/environment
	for v in http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY; do
		echo "$v = '"'"'$CLOSE_HOSTILE_URL'"'"'" >> "$env"
	done
	pg_ctlcluster 15 regress restart
	psql -X -q -f "$1/proxy.sql"
' bash "$out" > "$out/psql.log" 2>&1

# what the hostile server received (its control API is reached directly)
requests=$(hostile requests)
received=$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])))' "$requests")
cat "$out/psql.log"
echo "requests that reached the proxy: $received $requests"
if [ "$received" = "0" ] && grep -q "Acme Corporation" "$out/psql.log"; then
	echo "test proxy_env                    ... ok"
else
	echo "test proxy_env                    ... FAILED"
	exit 1
fi
