# Shell helpers shared by test/run_all.sh and test/demo.sh.

# Debian packages needed to build, test and demo closecrm_fdw.
CLOSECRM_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-common libcurl4-openssl-dev libcjson-dev python3 make gcc ca-certificates openssl"
# ... and, for the full test run, pg_cron (the scheduled-jobs suite) and the
# tools that build the Debian package.
CLOSECRM_TEST_PACKAGES="postgresql-15-cron debhelper postgresql-server-dev-all dpkg-dev"

# Options of the throwaway cluster the suites run in: pg_cron loaded, running
# jobs in the suites' database as background workers (no password needed);
# closecrm_fdw preloaded, so that sessions share their rate-limit state
# (test/ratelimit_local.sh checks the fallback without it).
CLOSECRM_PG_TEST_OPTS="-o shared_preload_libraries=pg_cron,closecrm_fdw -o cron.database_name=contrib_regression -o cron.use_background_workers=on"

# Other PostgreSQL versions (test/pg_build.sh): built from Debian's source
# packages, found in these releases' deb-src, with these tools, and cached
# (one directory per version) between runs on the same machine.
CLOSECRM_PG_CACHE=${CLOSECRM_PG_CACHE:-/var/cache/closecrm-pg}
CLOSECRM_PG_SOURCE_SUITES="trixie forky sid"
CLOSECRM_PG_BUILD_PACKAGES="gcc make bison flex perl pkg-config dpkg-dev"
# ... and the ones CI runs every suite on, after 15 (Debian 12's own), and
# those it only compiles against (test/compile_check.sh: their source is not
# served here).
CLOSECRM_CI_OTHER_VERSIONS="18"
CLOSECRM_CI_COMPILE_VERSIONS="14 16 17"

# ... and only for `make fuzz` and `make valgrind` (not for CI).
CLOSECRM_FUZZ_PACKAGES="clang-14 libclang-rt-14-dev libcjson-dev"
CLOSECRM_VALGRIND_PACKAGES="valgrind"

# ensure_packages [PACKAGE...]: install what is missing of the given packages
# (default: CLOSECRM_PACKAGES), as root or through sudo.
ensure_packages() {
	local missing=() p
	for p in ${*:-$CLOSECRM_PACKAGES}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build_and_install [VERSION]: compile warning-free and install into
# PostgreSQL VERSION (default 15; exports its PG_CONFIG).
build_and_install() {
	local sudo="" version=${1:-15}
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export PG_CONFIG=/usr/lib/postgresql/$version/bin/pg_config
	make -s clean >/dev/null 2>&1
	if ! make -s 2> /tmp/closecrm_fdw_build.log; then
		cat /tmp/closecrm_fdw_build.log
		return 1
	fi
	if grep -q "warning:" /tmp/closecrm_fdw_build.log; then
		cat /tmp/closecrm_fdw_build.log
		echo "build has warnings"
		return 1
	fi
	$sudo make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# run_suites VERSION LOG [SUITE...]: run the named pg_regress suites (default:
# the Makefile's REGRESS) against the extension installed in PostgreSQL
# VERSION, in a throwaway cluster with pg_cron loaded (the emulators must be
# running: CLOSE_EMULATOR_URL and the others); pg_regress's output goes to
# LOG.  Without pg_cron for that version the cron suite is left out, with a
# line saying so.  Returns pg_regress's status.
run_suites() {
	local version=$1 log=$2 suites opts=$CLOSECRM_PG_TEST_OPTS
	shift 2
	suites=${*:-$(make -s -f Makefile print-regress)}
	if [ ! -f "$(/usr/lib/postgresql/$version/bin/pg_config --pkglibdir)/pg_cron.so" ]; then
		opts="-o shared_preload_libraries=closecrm_fdw"
		if [[ " $suites " == *" cron "* ]]; then
			suites=$(echo " $suites " | sed 's/ cron / /')
			echo "test cron ... skipped: no pg_cron for PostgreSQL $version"
		fi
	fi
	# shellcheck disable=SC2086
	pg_virtualenv -t -v "$version" $opts \
		make installcheck PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" \
		REGRESS="$suites" > "$log" 2>&1
}

# start_server DIR NAME SCRIPT [ARGS...]: start test/SCRIPT (a server that
# takes --port 0 --port-file) on a free loopback port, logging to
# DIR/NAME.log; sets SERVER_PORT and SERVER_PID, or prints the log and
# fails if it does not come up within 10 s.
start_server() {
	local dir=$1 name=$2 script=$3 i
	shift 3
	rm -f "$dir/$name.port"
	python3 "test/$script" --port 0 --port-file "$dir/$name.port" "$@" \
		> "$dir/$name.log" 2>&1 &
	SERVER_PID=$!
	for i in $(seq 1 100); do
		[ -s "$dir/$name.port" ] && break
		sleep 0.1
	done
	SERVER_PORT=$(cat "$dir/$name.port" 2>/dev/null)
	if [ -z "$SERVER_PORT" ]; then
		echo "$name did not start:"; cat "$dir/$name.log"
		return 1
	fi
}

# start_emulator DIR: start the Close emulator on a free loopback port;
# sets EMULATOR_PORT and EMULATOR_PID.
start_emulator() {
	start_server "$1" emulator close_emulator.py || return 1
	EMULATOR_PORT=$SERVER_PORT
	EMULATOR_PID=$SERVER_PID
}

# start_tls_emulator DIR: a second emulator serving HTTPS with a throwaway
# self-signed certificate for localhost; sets TLS_EMULATOR_PORT,
# TLS_EMULATOR_PID and TLS_EMULATOR_CA (the certificate, readable by the
# postgres server process).
start_tls_emulator() {
	local dir=$1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$dir/tls-key.pem" -out "$dir/tls-cert.pem" >/dev/null 2>&1 || return 1
	chmod 644 "$dir/tls-cert.pem" "$dir/tls-key.pem"
	start_server "$dir" emulator-tls close_emulator.py \
		--tls-cert "$dir/tls-cert.pem" --tls-key "$dir/tls-key.pem" || return 1
	TLS_EMULATOR_PORT=$SERVER_PORT
	TLS_EMULATOR_PID=$SERVER_PID
	TLS_EMULATOR_CA="$dir/tls-cert.pem"
}

stop_emulator() {
	[ -n "${EMULATOR_PID:-}" ] && kill "$EMULATOR_PID" 2>/dev/null
	wait "${EMULATOR_PID:-}" 2>/dev/null
	EMULATOR_PID=""
	[ -n "${TLS_EMULATOR_PID:-}" ] && kill "$TLS_EMULATOR_PID" 2>/dev/null
	wait "${TLS_EMULATOR_PID:-}" 2>/dev/null
	TLS_EMULATOR_PID=""
}

# start_hostile DIR: start test/hostile_server.py (the answers the emulator
# cannot script: raw bytes, resets, huge or compressed bodies, and a target
# for redirects) on a free loopback port; sets HOSTILE_PORT and HOSTILE_PID.
start_hostile() {
	start_server "$1" hostile hostile_server.py || return 1
	HOSTILE_PORT=$SERVER_PORT
	HOSTILE_PID=$SERVER_PID
}

stop_hostile() {
	[ -n "${HOSTILE_PID:-}" ] && kill "$HOSTILE_PID" 2>/dev/null
	wait "${HOSTILE_PID:-}" 2>/dev/null
	HOSTILE_PID=""
}

# start_test_servers DIR: the emulator, the TLS emulator and the hostile
# server, with the variables the suites read them from (CLOSE_EMULATOR_URL,
# CLOSE_EMULATOR_TLS_URL, CLOSE_EMULATOR_CA, CLOSE_HOSTILE_URL) exported.
start_test_servers() {
	start_emulator "$1" || return 1
	start_tls_emulator "$1" || return 1
	start_hostile "$1" || return 1
	export CLOSE_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
	export CLOSE_EMULATOR_TLS_URL="https://localhost:$TLS_EMULATOR_PORT"
	export CLOSE_EMULATOR_CA="$TLS_EMULATOR_CA"
	export CLOSE_HOSTILE_URL="http://127.0.0.1:$HOSTILE_PORT"
}
