#!/usr/bin/env bash
# Runs every closecrm_fdw test on a fresh Debian 12 machine: installs the
# Debian packages it needs, builds and installs the extension, starts the
# Close API emulator and a throwaway PostgreSQL 15 cluster (pg_virtualenv,
# with pg_cron and closecrm_fdw preloaded), runs the emulator's self-test,
# checks that doc/objects.md is current, runs the pg_regress suites (README
# examples, pg_cron jobs and upgrades included; the rate-limit fallback in a
# cluster without closecrm_fdw preloaded), then builds, installs and tests the
# Debian package, and ends with the line "N passed, M failed".  Exit status 0
# only if every test passed.
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages $CLOSECRM_PACKAGES $CLOSECRM_TEST_PACKAGES
build_and_install || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
count() {						# count LOGFILE: add its ok / FAILED lines
	local p f
	p=$(grep -cE '(\.\.\. ok|^ok [0-9]+ )' "$1" || true)
	f=$(grep -cE '(\.\.\. FAILED|^not ok [0-9]+ )' "$1" || true)
	passed=$((passed + p))
	failed=$((failed + f))
}

workdir=$(mktemp -d /tmp/closecrm_fdw_test.XXXXXX)
chmod 755 "$workdir"

echo "== emulator self-test"
if python3 test/emulator_selftest.py > "$workdir/selftest.log" 2>&1; then :; fi
tail -n 3 "$workdir/selftest.log"
st=$(tail -n 1 "$workdir/selftest.log")
if [[ "$st" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
else
	failed=$((failed + 1))
fi

echo "== object reference"
if python3 tools/gen_objects_doc.py -o "$workdir/objects.md" > "$workdir/doc.log" 2>&1 &&
	cmp -s "$workdir/objects.md" doc/objects.md; then
	echo "doc/objects.md is current ... ok" | tee -a "$workdir/doc.log"
else
	echo "doc/objects.md is current ... FAILED (run: python3 tools/gen_objects_doc.py)" | tee -a "$workdir/doc.log"
	diff -u doc/objects.md "$workdir/objects.md" | head -n 40
fi
count "$workdir/doc.log"

echo "== pg_regress suites"
start_emulator "$workdir"
start_tls_emulator "$workdir"
export CLOSE_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
export CLOSE_EMULATOR_TLS_URL="https://localhost:$TLS_EMULATOR_PORT"
export CLOSE_EMULATOR_CA="$TLS_EMULATOR_CA"
start_hostile "$workdir"
export CLOSE_HOSTILE_URL="http://127.0.0.1:$HOSTILE_PORT"
# shellcheck disable=SC2086
pg_virtualenv -t -v 15 $CLOSECRM_PG_TEST_OPTS make installcheck > "$workdir/regress.log" 2>&1
rc=$?
cat "$workdir/regress.log" | grep -E '\.\.\. |tests (passed|failed)|failed' || true
count "$workdir/regress.log"
if [ $rc -ne 0 ]; then
	[ -f regression.diffs ] && head -n 300 regression.diffs
	# a run that failed before any suite reported still counts as a failure
	grep -qE '\.\.\. (ok|FAILED)' "$workdir/regress.log" || { tail -n 40 "$workdir/regress.log"; failed=$((failed + 1)); }
fi

echo "== the API key in a server log at log_min_messages = debug5"
bash test/security_log.sh "$workdir/seclog" > "$workdir/seclog.log" 2>&1
grep -E '\.\.\. ' "$workdir/seclog.log" || tail -n 20 "$workdir/seclog.log"
count "$workdir/seclog.log"
grep -qE '\.\.\. (ok|FAILED)' "$workdir/seclog.log" || failed=$((failed + 1))

echo "== rate limits without shared_preload_libraries (each backend its own)"
bash test/ratelimit_local.sh "$workdir/ratelimit_local" > "$workdir/ratelimit_local.log" 2>&1
grep -E '\.\.\. ' "$workdir/ratelimit_local.log" || tail -n 20 "$workdir/ratelimit_local.log"
count "$workdir/ratelimit_local.log"
grep -qE '\.\.\. (ok|FAILED)' "$workdir/ratelimit_local.log" || failed=$((failed + 1))

echo "== no proxy from the server's environment gets the API key"
bash test/proxy_env.sh "$workdir/proxy" > "$workdir/proxy.log" 2>&1
grep -E '\.\.\. |reached the proxy' "$workdir/proxy.log" || tail -n 20 "$workdir/proxy.log"
count "$workdir/proxy.log"
grep -qE '\.\.\. (ok|FAILED)' "$workdir/proxy.log" || failed=$((failed + 1))
stop_hostile

echo "== fuzz regression inputs"
bash test/fuzz/replay.sh "$workdir/fuzz" > "$workdir/fuzz.log" 2>&1
grep -E '\.\.\. ' "$workdir/fuzz.log" || tail -n 20 "$workdir/fuzz.log"
count "$workdir/fuzz.log"
grep -qE '\.\.\. (ok|FAILED)' "$workdir/fuzz.log" || failed=$((failed + 1))

# last, as it installs the package over the files make install put in place
# (and puts those back when done)
echo "== Debian package"
bash test/package.sh "$workdir" > "$workdir/package.log" 2> "$workdir/package.err"
cat "$workdir/package.log" "$workdir/package.err"
count "$workdir/package.log"
grep -qE '^package: .*\.\.\. (ok|FAILED)' "$workdir/package.log" || { tail -n 40 "$workdir/package.log"; failed=$((failed + 1)); }
stop_emulator

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
