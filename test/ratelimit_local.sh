#!/usr/bin/env bash
# The rate-limit fallback: a cluster WITHOUT closecrm_fdw in
# shared_preload_libraries (the suites' cluster has it, test/lib.sh), where
# each backend keeps its own rate-limit state.  Runs the pg_regress suites
# setup and sessions_local there; prints pg_regress's "test ... ok/FAILED"
# lines, counted by test/run_all.sh like the others.
#
#   bash test/ratelimit_local.sh [OUTDIR]
#
# Needs CLOSE_EMULATOR_URL; PG_VIRTUALENV_OPTS as in test/security_log.sh.
set -u
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/closecrm_ratelimit_local.XXXXXX)}
mkdir -p "$out"
chmod 755 "$out"
# shellcheck disable=SC2086
pg_virtualenv -t -v 15 ${PG_VIRTUALENV_OPTS:-} \
	make installcheck REGRESS="setup sessions_local" \
	REGRESS_OPTS="--load-extension=closecrm_fdw --outputdir=$out" > "$out/regress.log" 2>&1
rc=$?
grep -E '\.\.\. |tests (passed|failed)' "$out/regress.log" || tail -n 30 "$out/regress.log"
[ -f "$out/regression.diffs" ] && head -n 100 "$out/regression.diffs"
exit $rc
