#!/usr/bin/env bash
# The closecrm_fdw demo on a fresh Debian 12 machine: installs what it needs,
# builds and installs the extension, starts a throwaway PostgreSQL 15 and the
# Close API emulator, and runs test/demo.sql, which prints each step: the
# extension, a server and user mapping, IMPORT FOREIGN SCHEMA, a lookup by id,
# a join with a local table (with its EXPLAIN), a delete by id, close_raw()
# and EXPLAIN ANALYZE; it ends with the commands to try next.
#
#   bash test/demo.sh           the demo
#   bash test/demo.sh --psql    the demo, then a psql prompt on the same setup
#                               (the cluster and emulator go away on \q)
#
# With CLOSE_API_KEY set it talks to the real Close API instead (read only:
# the delete is only shown with EXPLAIN there).
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

interactive=0
case "${1:-}" in
	--psql) interactive=1 ;;
	"") ;;
	*) echo "usage: bash test/demo.sh [--psql]" >&2; exit 2 ;;
esac

echo "== Installing what the demo needs (Debian packages), building and installing closecrm_fdw"
ensure_packages || exit 1
build_and_install || exit 1

workdir=$(mktemp -d /tmp/closecrm_fdw_demo.XXXXXX)
chmod 755 "$workdir"
if [ -n "${CLOSE_API_KEY:-}" ]; then
	export DEMO_BASE_URL="${CLOSE_BASE_URL:-https://api.close.com/api/v1}"
	export DEMO_TARGET=real
	echo "== Using the real Close API at $DEMO_BASE_URL"
else
	start_emulator "$workdir" || exit 1
	trap stop_emulator EXIT
	export DEMO_BASE_URL="http://127.0.0.1:$EMULATOR_PORT/api/v1"
	export DEMO_TARGET=emulator
	export CLOSE_API_KEY=test_key_alpha
	echo "== Using the Close emulator at $DEMO_BASE_URL (set CLOSE_API_KEY to use your Close account)"
fi
echo "== Starting a throwaway PostgreSQL 15 cluster (pg_virtualenv) and running test/demo.sql"
if [ $interactive -eq 1 ]; then
	pg_virtualenv -t -v 15 bash -c '
		psql -X -v ON_ERROR_STOP=1 -f test/demo.sql || exit 1
		echo
		echo "psql on the demo database: the server \"close\" points at $DEMO_BASE_URL,"
		echo "schema \"close\" has the imported tables. \\q ends the demo."
		psql -X'
else
	pg_virtualenv -t -v 15 psql -X -v ON_ERROR_STOP=1 -f test/demo.sql
fi
