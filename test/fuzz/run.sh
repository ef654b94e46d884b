#!/usr/bin/env bash
# make fuzz: build the libFuzzer harnesses (clang, with AddressSanitizer and
# UndefinedBehaviorSanitizer) and run each for a fixed budget.
#
#   bash test/fuzz/run.sh [SECONDS_PER_HARNESS] [HARNESS...]
#
# Inputs that make a harness fail are written to
# test/fuzz/regressions/<harness>/ (commit them once fixed: test/fuzz/replay.sh
# replays them in CI).  New corpus entries stay in the build directory.
set -u
cd "$(dirname "$0")/../.."
. test/lib.sh
ensure_packages "$CLOSECRM_FUZZ_PACKAGES"

secs=${1:-60}
shift || true
harnesses=${*:-ratelimit utf8 json}
CC=$(command -v clang-14 || command -v clang)
build=${FUZZ_BUILD:-/tmp/closecrm_fuzz}
mkdir -p "$build"

status=0
for h in $harnesses; do
	echo "== fuzz_$h: building"
	if ! "$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Isrc test/fuzz/fuzz_$h.c src/wire.c -lcjson -o "$build/fuzz_$h"; then
		status=1
		continue
	fi
	mkdir -p "$build/corpus_$h" "test/fuzz/regressions/$h"
	echo "== fuzz_$h: running for $secs s"
	"$build/fuzz_$h" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="test/fuzz/regressions/$h/" \
		"$build/corpus_$h" "test/fuzz/corpus/$h" > "$build/fuzz_$h.log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$build/fuzz_$h.log"
	echo "corpus: $(ls "$build/corpus_$h" | wc -l) inputs; coverage: $(grep -oE 'cov: [0-9]+' "$build/fuzz_$h.log" | tail -n 1)"
	if [ $rc -ne 0 ]; then
		echo "fuzz_$h FAILED (exit $rc); the input is in test/fuzz/regressions/$h/:"
		grep -E 'ERROR|SUMMARY|Test unit written' "$build/fuzz_$h.log" | head -n 10
		status=1
	else
		echo "fuzz_$h: no failure in $secs s"
	fi
done
exit $status
