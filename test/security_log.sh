#!/usr/bin/env bash
# The API key never reaches the server log, even of a cluster started with
# log_min_messages = debug5 and log_statement = all: runs the setup and
# security suites against such a cluster, then searches the cluster's whole
# log file (every process, not just the suite's backend) for the key the
# suite uses.  Prints "test security_log ... ok" or "... FAILED".
#
#   bash test/security_log.sh OUTDIR
#
# Needs CLOSE_EMULATOR_URL and CLOSE_HOSTILE_URL (test/run_all.sh sets them)
# and the extension installed; PG_VIRTUALENV_OPTS adds options to
# pg_virtualenv (e.g. "-o extension_destdir=/path" for a private install).
set -u
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/closecrm_seclog.XXXXXX)}
mkdir -p "$out"
chmod 755 "$out"
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# shellcheck disable=SC2086
pg_virtualenv -t -v 15 ${PG_VIRTUALENV_OPTS:-} \
	-o log_min_messages=debug5 -o log_statement=all -o log_min_error_statement=debug5 \
	bash -c '
		out=$1
		make -s installcheck REGRESS="setup security" \
			REGRESS_OPTS="--load-extension=closecrm_fdw --dbname=contrib_regression --outputdir=$out" > "$out/regress.log" 2>&1
		echo "regress exit $?" >> "$out/regress.log"
		log=$(pg_lsclusters -h | awk "\$1 == 15 && \$2 == \"regress\" { print \$NF }")
		cp "$log" "$out/server.log"
	' bash "$out" > "$out/virtualenv.log" 2>&1

log="$out/server.log"
ok=true
if ! grep -q "regress exit 0" "$out/regress.log" 2>/dev/null; then
	echo "the security suite failed under debug5 logging:"
	cat "$out/regress.log" 2>/dev/null || cat "$out/virtualenv.log"
	[ -f "$out/regression.diffs" ] && head -n 100 "$out/regression.diffs"
	ok=false
elif [ ! -s "$log" ]; then
	echo "no server log found"
	ok=false
else
	keys=$(grep -c 'secret_canary_7f3a9' "$log")
	debug=$(grep -c 'DEBUG:' "$log")
	statements=$(grep -c 'LOG:  statement: ' "$log")
	echo "server log: $(wc -c < "$log") bytes, $debug DEBUG lines, $statements statements logged, key found $keys times"
	# the log must really be at debug5 with every statement, and hold no key
	[ "$debug" -gt 100 ] && [ "$statements" -gt 100 ] && [ "$keys" -eq 0 ] || ok=false
	[ "$keys" -eq 0 ] || grep -n 'secret_canary_7f3a9' "$log" | head -n 5
fi
if $ok; then
	echo "test security_log                 ... ok"
else
	echo "test security_log                 ... FAILED"
	exit 1
fi
