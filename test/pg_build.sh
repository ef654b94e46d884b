#!/usr/bin/env bash
# Makes PostgreSQL VERSION available where Debian's tools (pg_virtualenv,
# pg_buildext) look for it, /usr/lib/postgresql/VERSION and
# /usr/share/postgresql/VERSION, on a Debian 12 machine whose own registry
# carries only 15: Debian's package if it is installed, else a build from
# Debian's source package (the testing and development releases carry the
# newer majors), cached under $CLOSECRM_PG_CACHE/VERSION and copied into
# place (a copy, not a link: pg_config reports the directories its binary
# really is in, and the Debian package must name Debian's).  pg_cron is
# built from its Debian source package too; a version it cannot be built for
# only loses the cron suite.
#
#   bash test/pg_build.sh VERSION
#
# Exit status 0: the version is there (prints its pg_config); 2: it cannot
# be had here (prints "skipped: REASON"); 1: a build that should have worked
# failed (the end of its log is printed).  Needs root (or sudo) and, for
# a first build, the network to Debian's registry; a cached build needs
# neither the network nor much time.  The build runs under nice, on every
# core.
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

version=${1:?usage: pg_build.sh VERSION}
cache=$CLOSECRM_PG_CACHE/$version
root=$cache/root
bindir=/usr/lib/postgresql/$version
sharedir=/usr/share/postgresql/$version
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

skip() {
	echo "skipped: PostgreSQL $version: $*"
	exit 2
}

fail() {
	echo "PostgreSQL $version: $1 failed; the end of $2:"
	tail -n 40 "$2"
	exit 1
}

# install_cached: copy the cached build where postgresql-common looks for it
install_cached() {
	$sudo mkdir -p "$(dirname "$bindir")" "$(dirname "$sharedir")" &&
		$sudo cp -a "$root$bindir" "$(dirname "$bindir")/" &&
		$sudo cp -a "$root$sharedir" "$(dirname "$sharedir")/"
}

# Debian's own package, or a build copied in earlier
if [ -x "$bindir/bin/pg_config" ]; then
	echo "$bindir/bin/pg_config ($(dpkg -S "$bindir/bin/pg_config" 2>/dev/null | cut -d: -f1 |
		grep . || echo "a build of $(cat "$cache/built" 2>/dev/null || echo "unknown origin")"))"
	exit 0
fi
if [ -f "$cache/built" ]; then
	install_cached || skip "cannot copy the cached build to $bindir"
	echo "$bindir/bin/pg_config (cached build of $(cat "$cache/built"))"
	exit 0
fi

$sudo mkdir -p "$cache" "$CLOSECRM_PG_CACHE/apt/lists/partial" \
	"$CLOSECRM_PG_CACHE/apt/cache/archives/partial" || skip "cannot create $cache"
log=$cache/build.log
: | $sudo tee "$log" >/dev/null

# Debian's source packages, through an apt configuration of our own: the
# machine's sources and package lists are left as they are.
ensure_packages $CLOSECRM_PG_BUILD_PACKAGES || skip "cannot install the build tools ($CLOSECRM_PG_BUILD_PACKAGES)"
apt_dir=$CLOSECRM_PG_CACHE/apt
for suite in $CLOSECRM_PG_SOURCE_SUITES; do
	echo "deb-src http://deb.debian.org/debian $suite main"
done | $sudo tee "$apt_dir/sources.list" >/dev/null
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
$sudo timeout 600 apt-get "${apt_opts[@]}" -qq update >> "$log" 2>&1 ||
	skip "no source package list from Debian's registry (suites: $CLOSECRM_PG_SOURCE_SUITES)"

# fetch SOURCE_PACKAGE DIR: download its newest version the registry
# serves into DIR (a mirror may list a version it no longer holds: older
# ones are tried next) and unpack its upstream tarball there (Debian's
# patches are for Debian's layout, not needed here); prints the unpacked
# directory
fetch() {
	local pkg=$1 dir=$2 orig top v got=""
	for v in $(apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -urV); do
		$sudo rm -rf "$dir" && $sudo mkdir -p "$dir" || return 1
		if (cd "$dir" && $sudo timeout 900 apt-get "${apt_opts[@]}" -qq source --download-only "$pkg=$v") >> "$log" 2>&1; then
			got=$v
			break
		fi
	done
	[ -n "$got" ] || return 1
	orig=$(ls "$dir"/*.orig.tar.* 2>/dev/null | head -n 1)
	[ -n "$orig" ] || return 1
	top=$(tar -tf "$orig" | head -n 1 | cut -d/ -f1)
	$sudo tar -xf "$orig" -C "$dir" && echo "$dir/$top"
}

listed=$(apt-cache "${apt_opts[@]}" showsrc "postgresql-$version" 2>/dev/null | sed -n 's/^Version: //p' | xargs)
[ -n "$listed" ] ||
	skip "Debian's registry has no source package postgresql-$version (suites: $CLOSECRM_PG_SOURCE_SUITES)"
srcdir=$(fetch "postgresql-$version" "$cache/src") ||
	skip "Debian's registry lists postgresql-$version ($listed) but serves none of its source files here"
echo "building $(basename "$srcdir") into $root" | tee -a "$log"

# Debian's layout (bin/lib under /usr/lib/postgresql/VERSION, data files
# under /usr/share/postgresql/VERSION), installed into the cache with the
# one contrib module the suites use (dblink); no ICU, readline or zlib: the
# suites need none of them.
jobs=$(nproc)
(
	cd "$srcdir" &&
	$sudo nice -n 10 ./configure --prefix="$bindir" --datadir="$sharedir" \
		--without-icu --without-readline --without-zlib &&
	$sudo nice -n 10 make -j"$jobs" -s &&
	$sudo rm -rf "$root" &&
	$sudo make -s install DESTDIR="$root" &&
	$sudo make -s -C contrib/dblink install DESTDIR="$root"
) >> "$log" 2>&1 || fail "the build of $(basename "$srcdir")" "$log"
install_cached || fail "copying it to $bindir" "$log"

# pg_cron, into the same prefix; without it only the cron suite is skipped
crondir=$(fetch pg-cron "$cache/pg_cron")
if [ -n "$crondir" ] &&
	(cd "$crondir" &&
		$sudo nice -n 10 make -s PG_CONFIG="$bindir/bin/pg_config" &&
		$sudo make -s install PG_CONFIG="$bindir/bin/pg_config" DESTDIR="$root") >> "$log" 2>&1; then
	echo "pg_cron: $(basename "$crondir")" | tee -a "$log"
else
	echo "pg_cron: no build for PostgreSQL $version (the cron suite will be skipped)" | tee -a "$log"
fi
$sudo rm -rf "$cache/src" "$cache/pg_cron"
install_cached || fail "copying it to $bindir" "$log"

basename "$srcdir" | $sudo tee "$cache/built" >/dev/null
echo "$bindir/bin/pg_config (built $(basename "$srcdir"))"
