#!/usr/bin/env bash
# The Debian package, tested as a user would use it: builds it with
# dpkg-buildpackage (debian/, pg_buildext) in a copy of the tree, so the
# working tree is left alone, for every version of debian/pgversions
# installed here; checks the name, version, dependencies and files of 15's
# and the files of the others'; installs 15's with dpkg -i; creates the
# extension from it (fresh, and 0.1.0 updated to the current version) and
# runs a few pg_regress suites against it with make installcheck (PGXS: the
# installed extension is what is tested), then removes it and puts back the
# working tree's build for 15 (build_and_install), which the other suites
# test.
#
#   bash test/package.sh WORKDIR     (run by test/run_all.sh, with the
#                                      emulator running: CLOSE_EMULATOR_URL)
#
# Prints one "package: CHECK ... ok" or "... FAILED" line per check on
# standard output, and the end of the log WORKDIR/package/log on standard
# error for each failure.
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

work=$1/package
log=$work/log
rm -rf "$work"
mkdir -p "$work/src/closecrm-fdw"
src=$work/src/closecrm-fdw
: > "$log"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

result() {						# result NAME STATUS
	if [ "$2" -eq 0 ]; then
		echo "package: $1 ... ok"
	else
		echo "package: $1 ... FAILED"
		{ echo "---- $1 FAILED; the end of $log:"; tail -n 30 "$log"; } >&2
	fi
	return "$2"
}

# the files of the tree (tracked and new, not ignored ones such as build
# output), as a clean source directory
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./.git -cf - . | tar -xf - -C "$src"
	make -s -C "$src" clean >/dev/null 2>&1
fi

# the versions debian/rules builds for: those of debian/pgversions installed
pg_versions=$(for v in $(grep -v '^#' debian/pgversions); do
	[ -x "/usr/lib/postgresql/$v/bin/pg_config" ] && echo "$v"; done)
echo "PostgreSQL versions here: $pg_versions" >> "$log"

# 1. build: source and binary packages
(cd "$src" && dpkg-buildpackage -us -uc) >> "$log" 2>&1
result "dpkg-buildpackage -us -uc" $? || exit 1

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$src/closecrm_fdw.control")
deb=$(ls "$work"/src/postgresql-15-closecrm-fdw_*_*.deb 2>/dev/null | head -n 1)
echo "built: ${deb:-nothing}; default_version $version" >> "$log"

# the same version and license everywhere the package and PGXN read them
{
	python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m["version"], m["license"])' \
		"$src/META.json" | tee -a "$log" | grep -qx "$version postgresql" &&
	dpkg-parsechangelog -l "$src/debian/changelog" -S Version | grep -qx "$version" &&
	grep -q "^License: PostgreSQL$" "$src/debian/copyright" &&
	cmp -s "$src/LICENSE" LICENSE
} >> "$log" 2>&1
result "version $version and the PostgreSQL License in META.json, debian/" $?

# 2. what the package is: name, version (= default_version), dependencies
{
	[ -n "$deb" ] &&
	dpkg-deb -f "$deb" Package | grep -qx "postgresql-15-closecrm-fdw" &&
	dpkg-deb -f "$deb" Version | grep -qx "$version" &&
	dpkg-deb -f "$deb" Depends | tee -a "$log" | grep -q "postgresql-15" &&
	dpkg-deb -f "$deb" Depends | grep -q "libcurl4" &&
	dpkg-deb -f "$deb" Depends | grep -q "libcjson1"
} >> "$log" 2>&1
result "name, version $version and dependencies" $? || exit 1

# 3. a package per version, with its files: the library, the control file
# and every versioned script (only 15's can be installed: the others depend
# on a postgresql-VERSION package Debian 12 does not have)
for v in $pg_versions; do
	vdeb=$(ls "$work"/src/postgresql-$v-closecrm-fdw_*_*.deb 2>/dev/null | head -n 1)
	missing=0
	if [ -z "$vdeb" ]; then
		echo "no package postgresql-$v-closecrm-fdw" >> "$log"
		missing=1
	else
		dpkg-deb -c "$vdeb" | awk '{print $NF}' > "$work/contents-$v"
		for f in usr/lib/postgresql/$v/lib/closecrm_fdw.so \
				 usr/share/postgresql/$v/extension/closecrm_fdw.control \
				 $(cd "$src" && ls closecrm_fdw--*.sql | sed "s|^|usr/share/postgresql/$v/extension/|") \
				 usr/share/doc/postgresql-$v-closecrm-fdw/copyright; do
			grep -qx "./$f" "$work/contents-$v" || { echo "missing from the package: $f" >> "$log"; missing=1; }
		done
	fi
	result "postgresql-$v-closecrm-fdw: files at PostgreSQL $v's paths" $missing
done

# 4. install it
was_installed=0
dpkg-query -W -f='${Status}' postgresql-15-closecrm-fdw 2>/dev/null | grep -q "ok installed" && was_installed=1
{
	$sudo dpkg -i "$deb" &&
	dpkg-query -W -f='${Status}\n' postgresql-15-closecrm-fdw | grep -q "ok installed" &&
	dpkg -S /usr/lib/postgresql/15/lib/closecrm_fdw.so | grep -q "^postgresql-15-closecrm-fdw:"
} >> "$log" 2>&1
result "dpkg -i" $?
installed=$?

if [ $installed -eq 0 ]; then
	# 5. CREATE EXTENSION from the package, fresh and as an update of 0.1.0
	cat > "$work/create.sql" <<-'EOF'
	\set ON_ERROR_STOP 1
	CREATE EXTENSION closecrm_fdw;
	SELECT extversion FROM pg_extension WHERE extname = 'closecrm_fdw';
	SELECT closecrm_fdw_version();
	DROP EXTENSION closecrm_fdw;
	CREATE EXTENSION closecrm_fdw VERSION '0.1.0';
	ALTER EXTENSION closecrm_fdw UPDATE;
	SELECT extversion FROM pg_extension WHERE extname = 'closecrm_fdw';
	EOF
	pg_virtualenv -t -v 15 psql -X -At -f "$work/create.sql" > "$work/create.out" 2>> "$log"
	rc=$?
	cat "$work/create.out" >> "$log"
	[ $rc -eq 0 ] && [ "$(grep -cx "$version" "$work/create.out")" -eq 2 ] &&
		grep -q "^closecrm_fdw $version, libcurl/" "$work/create.out"
	result "CREATE EXTENSION and ALTER EXTENSION UPDATE from the package" $?

	# 6. make installcheck against the installed package (PGXS convention)
	pg_virtualenv -t -v 15 make -C "$src" installcheck REGRESS="setup options lookup delete raw" >> "$log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && [ -f "$src/regression.diffs" ] && head -n 100 "$src/regression.diffs" >> "$log"
	result "make installcheck against the package" $rc
fi

# 7. remove it again and put back the working tree's build
if [ $was_installed -eq 0 ]; then
	$sudo dpkg -r postgresql-15-closecrm-fdw >> "$log" 2>&1
fi
build_and_install 15 >> "$log" 2>&1 &&
	cmp -s closecrm_fdw.so /usr/lib/postgresql/15/lib/closecrm_fdw.so
result "working tree's build reinstalled" $?
