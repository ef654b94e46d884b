# Shell helpers shared by test/run_all.sh and test/demo.sh.

# Debian packages needed to build, test and demo closecrm_fdw.
CLOSECRM_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-common libcurl4-openssl-dev libcjson-dev python3 make gcc ca-certificates openssl"
# ... and, for the full test run, pg_cron (the scheduled-jobs suite) and the
# tools that build the Debian package.
CLOSECRM_TEST_PACKAGES="postgresql-15-cron debhelper postgresql-server-dev-all dpkg-dev"

# Options of the throwaway cluster the suites run in: pg_cron loaded, running
# jobs in the suites' database as background workers (no password needed).
CLOSECRM_PG_TEST_OPTS="-o shared_preload_libraries=pg_cron -o cron.database_name=contrib_regression -o cron.use_background_workers=on"

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

# build_and_install: compile warning-free and install into PostgreSQL 15.
build_and_install() {
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
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

# start_emulator DIR: start the Close emulator on a free loopback port;
# sets EMULATOR_PORT and EMULATOR_PID.
start_emulator() {
	local dir=$1 i
	rm -f "$dir/emulator.port"
	python3 test/close_emulator.py --port 0 --port-file "$dir/emulator.port" \
		> "$dir/emulator.log" 2>&1 &
	EMULATOR_PID=$!
	for i in $(seq 1 100); do
		[ -s "$dir/emulator.port" ] && break
		sleep 0.1
	done
	EMULATOR_PORT=$(cat "$dir/emulator.port" 2>/dev/null)
	if [ -z "$EMULATOR_PORT" ]; then
		echo "emulator did not start:"; cat "$dir/emulator.log"
		return 1
	fi
}

# start_tls_emulator DIR: a second emulator serving HTTPS with a throwaway
# self-signed certificate for localhost; sets TLS_EMULATOR_PORT,
# TLS_EMULATOR_PID and TLS_EMULATOR_CA (the certificate, readable by the
# postgres server process).
start_tls_emulator() {
	local dir=$1 i
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$dir/tls-key.pem" -out "$dir/tls-cert.pem" >/dev/null 2>&1 || return 1
	chmod 644 "$dir/tls-cert.pem" "$dir/tls-key.pem"
	rm -f "$dir/emulator-tls.port"
	python3 test/close_emulator.py --port 0 --port-file "$dir/emulator-tls.port" \
		--tls-cert "$dir/tls-cert.pem" --tls-key "$dir/tls-key.pem" \
		> "$dir/emulator-tls.log" 2>&1 &
	TLS_EMULATOR_PID=$!
	for i in $(seq 1 100); do
		[ -s "$dir/emulator-tls.port" ] && break
		sleep 0.1
	done
	TLS_EMULATOR_PORT=$(cat "$dir/emulator-tls.port" 2>/dev/null)
	TLS_EMULATOR_CA="$dir/tls-cert.pem"
	[ -n "$TLS_EMULATOR_PORT" ] || { echo "TLS emulator did not start:"; cat "$dir/emulator-tls.log"; return 1; }
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
	local dir=$1 i
	rm -f "$dir/hostile.port"
	python3 test/hostile_server.py --port 0 --port-file "$dir/hostile.port" \
		> "$dir/hostile.log" 2>&1 &
	HOSTILE_PID=$!
	for i in $(seq 1 100); do
		[ -s "$dir/hostile.port" ] && break
		sleep 0.1
	done
	HOSTILE_PORT=$(cat "$dir/hostile.port" 2>/dev/null)
	if [ -z "$HOSTILE_PORT" ]; then
		echo "hostile server did not start:"; cat "$dir/hostile.log"
		return 1
	fi
}

stop_hostile() {
	[ -n "${HOSTILE_PID:-}" ] && kill "$HOSTILE_PID" 2>/dev/null
	wait "${HOSTILE_PID:-}" 2>/dev/null
	HOSTILE_PID=""
}
