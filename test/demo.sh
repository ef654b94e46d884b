#!/usr/bin/env bash
# The closecrm_fdw demo on a fresh Debian 12 machine: installs what it needs,
# builds and installs the extension, starts a throwaway PostgreSQL 15 and the
# Close API emulator, and runs example queries for the three everyday actions
# (look up by id, delete by id, raw request) plus a join with a local table.
# With CLOSE_API_KEY set it talks to the real Close API instead (read-only:
# the delete is only shown with EXPLAIN there).
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages
build_and_install || exit 1

workdir=$(mktemp -d /tmp/closecrm_fdw_demo.XXXXXX)
chmod 755 "$workdir"
if [ -n "${CLOSE_API_KEY:-}" ]; then
	export DEMO_BASE_URL="${CLOSE_BASE_URL:-https://api.close.com/api/v1}"
	export DEMO_TARGET=real
	echo "Using the real Close API at $DEMO_BASE_URL"
else
	start_emulator "$workdir" || exit 1
	trap stop_emulator EXIT
	export DEMO_BASE_URL="http://127.0.0.1:$EMULATOR_PORT/api/v1"
	export DEMO_TARGET=emulator
	export CLOSE_API_KEY=test_key_alpha
	echo "Using the Close emulator at $DEMO_BASE_URL (set CLOSE_API_KEY to use your Close account)"
fi
pg_virtualenv -t -v 15 psql -X -v ON_ERROR_STOP=1 -f test/demo.sql
