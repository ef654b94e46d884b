#!/usr/bin/env bash
# Runs the pg_regress suites against another PostgreSQL version: makes the
# version available (test/pg_build.sh: Debian's package, or a cached build
# from Debian's source package), builds and installs the extension for it
# warning-free, starts the emulators and runs the suites in a throwaway
# cluster of that version.
#
#   bash test/run_version.sh VERSION [SUITE...]     (default: all suites)
#
# As root on a machine of its own (CI), or on a shared one inside a private
# mount namespace once the version is built (make install writes into the
# version's library directory).  Prints pg_regress's summary; the diffs are
# in ./regression.diffs.  Exit status: pg_regress's, 2 when the version
# cannot be had here (with the reason).
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

version=${1:?usage: run_version.sh VERSION [SUITE...]}
shift
bash test/pg_build.sh "$version" || exit $?
build_and_install "$version" || exit 1
work=$(mktemp -d /tmp/closecrm_fdw_v$version.XXXXXX)
chmod 755 "$work"
start_test_servers "$work" || exit 1
run_suites "$version" "$work/regress.log" "$@"
rc=$?
grep -E '\.\.\. |^(not )?ok [0-9]+ |tests (passed|failed)|failed' "$work/regress.log" || tail -n 30 "$work/regress.log"
stop_hostile
stop_emulator
rm -rf "$work"
exit $rc
