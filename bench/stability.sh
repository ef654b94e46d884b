#!/usr/bin/env bash
# Stability: N statements (default 10,000) in one session -- lookups,
# listings, close_raw, DELETEs, ERRORs of every kind, cancelled requests and
# one real 100 MB response body -- sampling the backend's resident memory,
# open file descriptors and TCP connections every 500 statements
# (bench/stability.py).  Not part of CI: it takes a few minutes.
#
#   bash bench/stability.sh [N]
#
# Uses CLOSE_EMULATOR_URL / CLOSE_HOSTILE_URL when set, else starts both
# servers; PG_VIRTUALENV_OPTS adds pg_virtualenv options (e.g.
# "-o extension_destdir=/path" for a private install of the extension).
set -u
cd "$(dirname "$0")/.."
. test/lib.sh
n=${1:-10000}
work=$(mktemp -d /tmp/closecrm_stability.XXXXXX)
chmod 755 "$work"
started=""
if [ -z "${CLOSE_EMULATOR_URL:-}" ]; then
	start_emulator "$work" || exit 1
	export CLOSE_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
	started="$started emulator"
fi
if [ -z "${CLOSE_HOSTILE_URL:-}" ]; then
	start_hostile "$work" || exit 1
	export CLOSE_HOSTILE_URL="http://127.0.0.1:$HOSTILE_PORT"
	started="$started hostile"
fi
emu_port=${CLOSE_EMULATOR_URL##*:}

python3 bench/stability.py script "$n" "$CLOSE_EMULATOR_URL" "$CLOSE_HOSTILE_URL" \
	"$work/samples.csv" > "$work/stability.sql"
start=$(date +%s)
# shellcheck disable=SC2086
pg_virtualenv -t -v 15 ${PG_VIRTUALENV_OPTS:-} \
	bash -c 'psql -X -q -f "$1" > "$2" 2>&1' bash "$work/stability.sql" "$work/psql.log"
end=$(date +%s)

case $started in *hostile*) stop_hostile ;; esac
case $started in *emulator*) stop_emulator ;; esac

echo "$n statements in $((end - start)) s (cluster start and stop included)"
python3 bench/stability.py report "$work/samples.csv" "$emu_port"
echo "errors: $(grep -c 'ERROR:' "$work/psql.log"), of which cancelled: $(grep -c 'canceling statement due to statement timeout' "$work/psql.log")"
grep 'ERROR:' "$work/psql.log" | sed -E 's/^psql:[^ ]* //; s/lead_missing_[0-9]+/lead_missing_N/; s/[0-9]+ ms/N ms/' | sort | uniq -c | sort -rn | head -n 12
tail -n 3 "$work/psql.log"
echo "logs: $work"
