#!/usr/bin/env bash
# Replays the fuzz seed corpus and every kept crash (test/fuzz/regressions/)
# through the fuzz harnesses, built with gcc (and AddressSanitizer and
# UndefinedBehaviorSanitizer when the compiler has them), without libFuzzer.
# Cheap enough for CI: prints one "test fuzz_<harness> ... ok/FAILED" line
# per harness.
#
#   bash test/fuzz/replay.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/../.."
build=${1:-$(mktemp -d /tmp/closecrm_replay.XXXXXX)}
mkdir -p "$build"
CC=${CC:-gcc}
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
echo 'int main(void){return 0;}' > "$build/probe.c"
"$CC" $san "$build/probe.c" -o "$build/probe" 2>/dev/null && "$build/probe" || san=""
echo "sanitizers: ${san:-none}"

status=0
for src in test/fuzz/fuzz_*.c; do
	h=$(basename "$src" .c)
	h=${h#fuzz_}
	inputs=$(find "test/fuzz/corpus/$h" "test/fuzz/regressions/$h" -type f ! -name '.*' 2>/dev/null | sort)
	n=$(printf '%s\n' "$inputs" | grep -c .)
	line=$(printf 'test fuzz_%-24s' "$h ($n inputs)")
	# shellcheck disable=SC2086
	if "$CC" -g -O1 $san -Isrc "$src" test/fuzz/replay.c src/wire.c -lcjson \
			-o "$build/replay_$h" > "$build/build_$h.log" 2>&1 &&
		printf '%s\n' "$inputs" | xargs -r -d '\n' "$build/replay_$h" > "$build/replay_$h.log" 2>&1; then
		echo "$line ... ok"
	else
		echo "$line ... FAILED"
		tail -n 20 "$build/build_$h.log" "$build/replay_$h.log"
		status=1
	fi
done
exit $status
