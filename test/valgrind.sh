#!/usr/bin/env bash
# make valgrind: the pg_regress suites against a PostgreSQL 15 whose every
# process runs under valgrind memcheck, then a report of the errors and
# definite leaks whose stack passes through closecrm_fdw.
#
#   bash test/valgrind.sh [SUITE...]        (default: every suite of REGRESS)
#
# Exit status 0 when no error or definite leak is attributable to
# closecrm_fdw.  Suites may show differences under valgrind (it is 20-50
# times slower, and some suites use sub-second timeouts); they are listed,
# not counted.  Logs stay in the directory printed at the end.
#
# Debian's PostgreSQL is built without USE_VALGRIND, so memcheck sees
# palloc'd memory as whole blocks: it checks closecrm_fdw's malloc'd memory
# (libcurl handles, cJSON trees) and every read of undefined bytes, not
# overruns inside a memory context.  test/valgrind.supp silences what
# PostgreSQL itself is known to do (it ships no suppression file).
set -u
cd "$(dirname "$0")/.."
. test/lib.sh
ensure_packages
ensure_packages "$CLOSECRM_VALGRIND_PACKAGES"
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

work=$(mktemp -d /tmp/closecrm_valgrind.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/vg"
chmod 777 "$work/vg"
suites=${*:-$(sed -n 's/^REGRESS = //p' Makefile)}
echo "suites: $suites"

make -s 2> "$work/build.log" || { cat "$work/build.log"; exit 1; }
make -s install DESTDIR="$work/dest" > /dev/null || exit 1
chmod -R a+rX "$work/dest"
cp test/valgrind.supp "$work/valgrind.supp"

start_test_servers "$work" || exit 1

# shared_preload_libraries finds closecrm_fdw through dynamic_library_path
# (extension_destdir serves CREATE EXTENSION only)
# shellcheck disable=SC2086
pg_virtualenv -t -v 15 $CLOSECRM_PG_TEST_OPTS -o "extension_destdir=$work/dest" \
	-o "dynamic_library_path=$work/dest$("$PG_CONFIG" --pkglibdir):\$libdir" bash -c '
	work=$1
	suites=$2
	conf=$PG_CLUSTER_CONF_ROOT/15/regress/postgresql.conf
	owner=$(stat -c %U "$conf")
	as_owner=""
	[ "$(id -u)" -eq 0 ] && as_owner="runuser -u $owner --"
	# the same cluster, its postmaster now under valgrind, on a port of its
	# own (other clusters on this machine take the next free one from 5432)
	pg_ctlcluster 15 regress stop
	PGPORT=$(python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
	export PGPORT
	$as_owner valgrind --quiet --trace-children=yes --track-origins=yes \
		--read-var-info=yes --num-callers=40 --error-limit=no \
		--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
		--suppressions="$work/valgrind.supp" --gen-suppressions=all \
		--log-file="$work/vg/%p.log" \
		/usr/lib/postgresql/15/bin/postgres -c config_file="$conf" -c port="$PGPORT" \
		> "$work/postmaster.log" 2>&1 &
	# up, and really ours: its postmaster.pid names a process running
	# memcheck, and the server on the port has our data directory
	datadir=$(pg_lsclusters -h | awk "\$1 == 15 && \$2 == \"regress\" { print \$6 }")
	up=false
	for i in $(seq 1 300); do
		pid=$(head -n 1 "$datadir/postmaster.pid" 2>/dev/null)
		if [ -n "$pid" ] && readlink "/proc/$pid/exe" | grep -q memcheck && pg_isready -q &&
			[ "$(psql -X -At -c "SHOW data_directory" 2>/dev/null)" = "$datadir" ]; then
			up=true
			break
		fi
		sleep 1
	done
	$up || { echo "postmaster under valgrind did not start"; cat "$work/postmaster.log"; exit 1; }
	echo "postmaster under valgrind is up (pid $pid)"
	make installcheck REGRESS="$suites" REGRESS_OPTS="--load-extension=closecrm_fdw --dbname=contrib_regression --outputdir=$work/regress" \
		> "$work/regress.log" 2>&1
	grep -E "^(test|not ok|ok) |tests (passed|failed)" "$work/regress.log"
	$as_owner /usr/lib/postgresql/15/bin/pg_ctl -D "$datadir" stop -m fast -w -t 300
' bash "$work" "$suites"

stop_hostile
stop_emulator

python3 test/valgrind_report.py "$work/vg"
status=$?
echo "logs: $work (vg/ per process, regress/ for the suites' output)"
exit $status
