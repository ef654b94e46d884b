#!/usr/bin/env bash
# closecrm_fdw benchmarks, one command: builds and installs the extension,
# starts the Close emulator and a throwaway PostgreSQL 15, runs every
# benchmark (bench/bench.py) and writes bench/RESULTS.md.  The cluster has
# closecrm_fdw in shared_preload_libraries (sessions share rate-limit
# state); the sessions benchmark runs first in a cluster without it, for
# comparison.  BENCH_ONLY=sessions runs only the sessions benchmark (and
# prints it, leaving RESULTS.md alone).
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages
build_and_install || exit 1
workdir=$(mktemp -d /tmp/closecrm_fdw_bench.XXXXXX)
chmod 755 "$workdir"
start_emulator "$workdir" || exit 1
trap stop_emulator EXIT
export CLOSE_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
pg_virtualenv -t -v 15 python3 bench/bench.py --sessions-only "$workdir/fallback.json"
out="$(pwd)/bench/RESULTS.md"
[ "${BENCH_ONLY:-}" = sessions ] && out="$workdir/RESULTS.md"
pg_virtualenv -t -v 15 -o shared_preload_libraries=closecrm_fdw \
	python3 bench/bench.py "$out" "$workdir/fallback.json"
