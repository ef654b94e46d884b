#!/usr/bin/env python3
"""10,000 statements in one session: is the backend stable?

bench/stability.sh runs this; it writes a psql script that sends a mix of
lookups, listings, close_raw calls, DELETEs, ERRORs of every kind and
cancelled statements (statement_timeout on a request that never comes back)
through one connection, with one real 100 MB response body half-way, and,
every SAMPLE_EVERY statements, runs "python3 bench/stability.py sample",
which records the backend's resident memory, open file descriptors, sockets
(TCP ones, established or not; the others are libcurl's wake-up socket
pairs, two per server used) and TCP connections (from /proc).  "report"
summarises the samples.

    python3 bench/stability.py script N EMULATOR_URL HOSTILE_URL SAMPLES > s.sql
    python3 bench/stability.py sample          (from psql: \\! ...)
    python3 bench/stability.py report SAMPLES EMULATOR_PORT
"""

import csv
import os
import sys

SAMPLE_EVERY = 500

# PostgreSQL's own account of the backend's memory (not a counted statement)
CONTEXTS = ("SELECT sum(total_bytes) AS ctx_bytes FROM pg_backend_memory_contexts \\gset\n"
            "\\setenv STABILITY_CTX :ctx_bytes")

LEADS = ["lead_0000000000000000000001", "lead_a%2Fb%3Fc%23d", "lead_%C3%BCn%C3%AFc%C3%B8d%C3%A9"]

# Each entry: (kind, statements); every statement counts.
MIX = [
    ("lookup", ["SELECT display_name FROM st_lead WHERE id = 'lead_0000000000000000000001';"]),
    ("lookup missing", ["SELECT count(*) FROM st_lead WHERE id = 'lead_missing_{i}';"]),
    ("lookup any", ["SELECT count(*) FROM st_lead WHERE id = ANY(ARRAY['lead_0000000000000000000001', "
                    "'lead_a/b?c#d', 'lead_missing_{i}']);"]),
    ("listing single page", ["SELECT count(*) FROM st_status;"]),
    ("listing limit", ["SELECT id FROM st_lead ORDER BY date_created DESC LIMIT 5;"]),
    ("listing filtered", ["SELECT count(*) FROM st_contact WHERE lead_id = 'lead_0000000000000000000001';"]),
    ("close_raw", ["SELECT status FROM close_raw('GET', '/me/', NULL, 'st');"]),
    ("close_raw list", ["SELECT status, jsonb_array_length(body->'data') FROM close_raw('GET', '/lead/?_limit=3', NULL, 'st');"]),
    ("delete missing", ["DELETE FROM st_lead WHERE id = 'lead_missing_{i}';"]),
    ("error 500", ["SELECT * FROM st_lead WHERE id = 'lead_err500';"]),
    ("error malformed", ["SELECT * FROM st_lead WHERE id = 'lead_errjson';"]),
    ("error conversion", ["SELECT * FROM st_lead_typed WHERE id = 'lead_0000000000000000000001';"]),
    ("error 401", ["SELECT * FROM st_badkey WHERE id = 'lead_0000000000000000000001';"]),
    ("error transport", ["SELECT * FROM st_down WHERE id = 'x';"]),
    ("cancel", ["SET statement_timeout = '50ms';",
                "SELECT * FROM st_lead WHERE id = 'lead_hang';",
                "RESET statement_timeout;"]),
    ("explain analyze", ["EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM st_lead WHERE id = 'lead_0000000000000000000001';"]),
    ("join", ["SELECT count(*) FROM st_local l JOIN st_lead f ON f.id = l.id;"]),
    ("close_raw 404", ["SELECT status FROM close_raw('GET', '/lead/lead_missing_{i}/', NULL, 'st');"]),
    ("prepared", ["EXECUTE st_by_id('lead_0000000000000000000001');"]),
    ("listing 250 rows", ["SELECT count(*) FROM st_lead;"]),
]


def setup(emulator, hostile):
    api = emulator + "/api/v1"
    return f"""
\\set ON_ERROR_STOP 0
\\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS closecrm_fdw;
DROP SERVER IF EXISTS st, st_ctl, st_badkey, st_down, st_hostile, st_hostile_big, st_hostile_ctl CASCADE;
CREATE SERVER st FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '{api}', max_retries '0', timeout '5');
CREATE USER MAPPING FOR CURRENT_USER SERVER st OPTIONS (api_key 'test_key_alpha');
CREATE SERVER st_ctl FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '{emulator}/_emulator', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_ctl OPTIONS (api_key 'unused');
CREATE SERVER st_badkey FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '{api}', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_badkey OPTIONS (api_key 'stability_wrong_key');
CREATE SERVER st_down FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url 'http://127.0.0.1:9/api/v1', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_down OPTIONS (api_key 'test_key_alpha');
CREATE SERVER st_hostile FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '{hostile}/api/v1', max_retries '0', timeout '60');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_hostile OPTIONS (api_key 'test_key_alpha');
CREATE SERVER st_hostile_big FOREIGN DATA WRAPPER closecrm_fdw
  OPTIONS (base_url '{hostile}/api/v1', max_retries '0', timeout '120', max_response_size '200000000');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_hostile_big OPTIONS (api_key 'test_key_alpha');
CREATE SERVER st_hostile_ctl FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '{hostile}/_hostile', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_hostile_ctl OPTIONS (api_key 'unused');
CREATE FOREIGN TABLE st_lead (id text, display_name text, date_created timestamptz, attrs jsonb)
  SERVER st OPTIONS (object 'lead');
CREATE FOREIGN TABLE st_lead_typed (id text, description int) SERVER st OPTIONS (object 'lead');
CREATE FOREIGN TABLE st_status (id text, label text) SERVER st OPTIONS (object 'status/lead');
CREATE FOREIGN TABLE st_contact (id text, lead_id text, name text) SERVER st OPTIONS (object 'contact');
CREATE FOREIGN TABLE st_badkey (id text) SERVER st_badkey OPTIONS (object 'lead');
CREATE FOREIGN TABLE st_down (id text) SERVER st_down OPTIONS (object 'lead');
DROP TABLE IF EXISTS st_local;
CREATE TABLE st_local (id text);
INSERT INTO st_local VALUES ('lead_0000000000000000000001'), ('lead_a/b?c#d'), ('lead_nope');
SELECT close_raw('POST', '/reset', NULL, 'st_ctl') IS NOT NULL AS reset;
SELECT close_raw('POST', '/faults', '{{"path": "/api/v1/lead/lead_err500/", "status": 500, "times": -1, "body": "<html>oops</html>"}}', 'st_ctl') IS NOT NULL;
SELECT close_raw('POST', '/faults', '{{"path": "/api/v1/lead/lead_errjson/", "status": 200, "times": -1, "body": "{{\\"id\\": \\"lead_errjson\\", "}}', 'st_ctl') IS NOT NULL;
SELECT close_raw('POST', '/faults', '{{"path": "/api/v1/lead/lead_hang/", "hang": true, "seconds": 30, "times": -1}}', 'st_ctl') IS NOT NULL;
PREPARE st_by_id(text) AS SELECT display_name FROM st_lead WHERE id = $1;
SELECT pg_backend_pid() AS backend_pid \\gset
\\setenv STABILITY_PID :backend_pid
"""


def script(n, emulator, hostile, samples):
    out = [setup(emulator, hostile)]
    out.append("\\setenv STABILITY_SAMPLES %s" % samples)
    out.append("\\setenv STABILITY_N 0")
    out.append(CONTEXTS)
    out.append("\\! python3 bench/stability.py sample")
    count = 0
    i = 0
    big_done = False
    while count < n:
        kind, stmts = MIX[i % len(MIX)]
        i += 1
        for s in stmts:
            out.append(s.replace("{i}", str(i)))
        count += len(stmts)
        if not big_done and count >= n // 2:
            big_done = True
            # one real 100 MB body: refused at the default 64 MB limit, then
            # accepted (as a JSON string) by a server that allows 200 MB
            out.append("\\setenv STABILITY_N %d" % count)
            out.append(CONTEXTS)
            out.append("\\! python3 bench/stability.py sample before-100MB")
            out.append("SELECT close_raw('POST', '/script', '{\"body\": \"x\", \"repeat\": 100000000, \"times\": 2}', 'st_hostile_ctl') IS NOT NULL;")
            out.append("SELECT status FROM close_raw('GET', '/big/', NULL, 'st_hostile');")
            out.append("SELECT status, length(body #>> '{}') FROM close_raw('GET', '/big/', NULL, 'st_hostile_big');")
            out.append(CONTEXTS)
            out.append("\\! python3 bench/stability.py sample after-100MB")
            count += 3
        if count // SAMPLE_EVERY != (count - len(stmts)) // SAMPLE_EVERY:
            out.append("\\setenv STABILITY_N %d" % count)
            out.append(CONTEXTS)
            out.append("\\! python3 bench/stability.py sample")
    out.append("\\setenv STABILITY_N %d" % count)
    out.append(CONTEXTS)
    out.append("\\! python3 bench/stability.py sample end")
    out.append("SELECT 1 AS alive;")
    print("\n".join(out))


def socket_inodes(pid):
    inodes = set()
    fds = 0
    for fd in os.listdir("/proc/%s/fd" % pid):
        fds += 1
        try:
            target = os.readlink("/proc/%s/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return fds, inodes


def tcp_connections(pid, inodes):
    conns = []
    for name in ("tcp", "tcp6"):
        try:
            lines = open("/proc/%s/net/%s" % (pid, name)).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes:
                conns.append((int(f[2].split(":")[1], 16), f[3]))   # remote port, state
    return conns


def sample():
    pid = os.environ["STABILITY_PID"]
    n = os.environ.get("STABILITY_N", "0")
    label = sys.argv[2] if len(sys.argv) > 2 else ""
    rss = hwm = 0
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    fds, inodes = socket_inodes(pid)
    conns = tcp_connections(pid, inodes)
    established = [c for c in conns if c[1] == "01"]
    with open(os.environ["STABILITY_SAMPLES"], "a", newline="") as f:
        csv.writer(f).writerow([n, label, rss, hwm, int(os.environ.get("STABILITY_CTX", "0")) // 1024,
                                fds, len(inodes), len(established),
                                len(conns) - len(established),
                                ";".join(str(p) for p, _ in sorted(established))])


def report(path, emulator_port):
    rows = list(csv.reader(open(path)))
    print("%7s %-13s %8s %9s %8s %4s %7s %7s %9s %10s" % ("stmts", "", "rss_kB", "peak_kB", "ctx_kB", "fds",
                                                          "sockets", "tcp_est", "tcp_other", "est_to_emu"))
    for n, label, rss, hwm, ctx, fds, socks, est, other, ports in rows:
        to_emu = sum(1 for p in ports.split(";") if p == str(emulator_port))
        print("%7s %-13s %8s %9s %8s %4s %7s %7s %9s %10d" % (n, label, rss, hwm, ctx, fds, socks, est, other, to_emu))
    plain = [r for r in rows if r[1] == "" and int(r[0]) >= 1000]
    if plain:
        rss = [int(r[2]) for r in plain]
        ctx = [int(r[4]) for r in plain]
        fds = [int(r[5]) for r in plain]
        print("after 1000 statements: RSS %d..%d kB (first %d, last %d), memory contexts %d..%d kB, fds %d..%d"
              % (min(rss), max(rss), rss[0], rss[-1], min(ctx), max(ctx), min(fds), max(fds)))


if __name__ == "__main__":
    if sys.argv[1] == "script":
        script(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "sample":
        sample()
    elif sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
