#!/usr/bin/env bash
# Compiles the extension against the server headers of PostgreSQL VERSION
# only, for a version whose source Debian's registry does not serve here (so
# test/pg_build.sh cannot build it to run the suites): the headers come from
# Debian's postgresql-server-dev-VERSION binary package (testing and
# development releases), unpacked, not installed, and cached under
# $CLOSECRM_PG_CACHE/headers-VERSION.  Every file of src/ is compiled with
# the warning flags of PostgreSQL 15's build; any warning or error fails.
#
#   bash test/compile_check.sh VERSION
#
# Prints one line "compile against PostgreSQL VERSION's headers ... ok" (or
# FAILED, with the compiler's output) or "... skipped: REASON"; exit status
# 0, 1 or 2 accordingly.
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

version=${1:?usage: compile_check.sh VERSION}
check="compile against PostgreSQL $version's headers"
dir=$CLOSECRM_PG_CACHE/headers-$version
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

skip() {
	echo "$check ... skipped: $*"
	exit 2
}

server=$dir/usr/include/postgresql/$version/server
if [ ! -f "$server/pg_config.h" ]; then
	apt_dir=$CLOSECRM_PG_CACHE/apt-bin
	$sudo mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir" ||
		skip "cannot create $dir"
	for suite in $CLOSECRM_PG_SOURCE_SUITES; do
		echo "deb [arch=amd64] http://deb.debian.org/debian $suite main"
	done | $sudo tee "$apt_dir/sources.list" >/dev/null
	apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o Dir::State::status=/dev/null)
	log=$dir/fetch.log
	$sudo timeout 600 apt-get "${apt_opts[@]}" -qq update > /dev/null 2> "$log" ||
		skip "no package list from Debian's registry (suites: $CLOSECRM_PG_SOURCE_SUITES)"
	(cd "$dir" && $sudo timeout 600 apt-get "${apt_opts[@]}" -qq download "postgresql-server-dev-$version") \
		>> "$log" 2>&1 ||
		skip "Debian's registry serves no postgresql-server-dev-$version here (suites: $CLOSECRM_PG_SOURCE_SUITES)"
	$sudo dpkg-deb -x "$dir"/postgresql-server-dev-"$version"_*.deb "$dir" ||
		skip "cannot unpack postgresql-server-dev-$version"
	$sudo rm -f "$dir"/*.deb
	[ -f "$server/pg_config.h" ] || skip "postgresql-server-dev-$version has no server headers"
fi

out=$(mktemp)
failed=0
for f in src/*.c; do
	# shellcheck disable=SC2046
	gcc $(/usr/lib/postgresql/15/bin/pg_config --cflags) -fPIC -D_GNU_SOURCE \
		-Isrc -I"$server" -I"$dir/usr/include/postgresql/internal" \
		-c -o /dev/null "$f" >> "$out" 2>&1 || failed=1
done
grep -q "warning:" "$out" && failed=1
if [ $failed -eq 0 ]; then
	echo "$check ($(sed -n 's/^#define PG_VERSION_STR "\([^ ]* [^ ]*\).*/\1/p' "$server/pg_config.h")) ... ok"
else
	echo "$check ... FAILED"
	head -n 60 "$out"
fi
rm -f "$out"
exit $failed
