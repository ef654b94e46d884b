#!/usr/bin/env python3
"""closecrm_fdw benchmarks, run by bench/run.sh inside a throwaway cluster.

Each benchmark measures the compared variants in the same run, against the
Close emulator with injected latency, and prints its figures; all of them
are written to bench/RESULTS.md with the machine and the date.  Times are
taken inside PostgreSQL (clock_timestamp around the statement), so psql's
start-up is not counted.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request

EMU = os.environ["CLOSE_EMULATOR_URL"]
API = EMU + "/api/v1"
OUT = sys.argv[1] if len(sys.argv) > 1 else "bench/RESULTS.md"


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(EMU + "/_emulator" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def psql(sql):
    """Run SQL in a new session; return the output rows as lists."""
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def timed(sql, setup=""):
    """Seconds the statement takes, measured inside PostgreSQL."""
    rows = psql(setup + """
        DO $$ BEGIN PERFORM set_config('bench.t0', clock_timestamp()::text, false); END $$;
        """ + sql + """;
        SELECT extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz);""")
    return float(rows[-1][0])


def big_leads(n, description_bytes=0):
    """Make the emulator hold exactly n leads (the seeded 250 included)."""
    control("POST", "/reset")
    extra = n - 250
    text = "x" * description_bytes
    batch = []
    for i in range(extra):
        batch.append({"id": "lead_bench_%06d" % i, "name": "Bench %d" % i,
                      "display_name": "Bench %d" % i, "description": text or None,
                      "status_label": "Potential",
                      "date_created": "2024-01-01T00:00:00.000000+00:00",
                      "date_updated": "2024-01-01T00:00:00.000000+00:00"})
        if len(batch) == 1000:
            control("POST", "/objects/lead", batch)
            batch = []
    if batch:
        control("POST", "/objects/lead", batch)


SETUP = """
CREATE EXTENSION IF NOT EXISTS closecrm_fdw;
DROP SERVER IF EXISTS bench CASCADE;
DROP SERVER IF EXISTS bench_serial CASCADE;
CREATE SERVER bench FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '%(api)s', max_concurrency '8', max_retries '10');
CREATE SERVER bench_serial FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '%(api)s', max_concurrency '1', max_retries '10');
CREATE USER MAPPING FOR CURRENT_USER SERVER bench OPTIONS (api_key 'test_key_alpha');
CREATE USER MAPPING FOR CURRENT_USER SERVER bench_serial OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead (id text, display_name text, description text) SERVER bench OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE lead_serial (id text, display_name text) SERVER bench_serial OPTIONS (object 'lead', use_search 'false');
CREATE FOREIGN TABLE lead_search (id text, display_name text, date_created timestamptz) SERVER bench OPTIONS (object 'lead');
CREATE FOREIGN TABLE lead_list (id text, display_name text, date_created timestamptz) SERVER bench OPTIONS (object 'lead', use_search 'false');
DROP SERVER IF EXISTS bench_shared CASCADE;
CREATE SERVER bench_shared FOREIGN DATA WRAPPER closecrm_fdw OPTIONS (base_url '%(api)s', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER bench_shared OPTIONS (api_key 'test_key_alpha');
CREATE FOREIGN TABLE lead_shared (id text, display_name text) SERVER bench_shared OPTIONS (object 'lead', use_search 'false');
""" % {"api": API}


def bench_join(results):
    control("POST", "/reset")
    psql("DROP TABLE IF EXISTS ids; CREATE TABLE ids AS "
         "SELECT o->>'id' AS id FROM jsonb_array_elements("
         "(close_raw('GET', '/lead/?_limit=200&_fields=id', NULL, 'bench')).body->'data') o; ANALYZE ids;")
    control("POST", "/config", {"latency_ms": 20})
    query = "SELECT count(*) FROM ids i JOIN %s l ON l.id = i.id"
    t8 = timed(query % "lead")
    t1 = timed(query % "lead_serial")
    tany = timed("SELECT count(*) FROM lead WHERE id = ANY (ARRAY(SELECT id FROM ids))")
    floor = 200 * 0.020 / 8
    results.append(("200-id join at 20 ms latency", [
        ("join, max_concurrency 8", "%.2f s" % t8),
        ("join, max_concurrency 1", "%.2f s" % t1),
        ("speed-up (target >= 6x)", "%.1fx" % (t1 / t8)),
        ("theoretical floor 200 x 20 ms / 8", "%.2f s (%.0f%% of it achieved)" % (floor, 100 * floor / t8)),
        ("the same ids as id = ANY(ARRAY(...)), max_concurrency 8", "%.2f s" % tany),
    ]))


def requests_of(sql):
    """Seconds a statement takes and the API requests it sent."""
    control("POST", "/requests/clear")
    secs = timed(sql)
    return secs, len(control("GET", "/requests"))


def bench_search(results):
    """Close's search against the list endpoint and per-id GETs, under an
    emulated limit of 20 requests per second per endpoint group."""
    control("POST", "/reset")
    gen = control("POST", "/generate", {"count": 9750, "step_seconds": 600,
                                         "contacts_per_lead": 0})
    psql("DROP TABLE IF EXISTS ids; CREATE TABLE ids AS "
         "SELECT o->>'id' AS id FROM jsonb_array_elements((close_raw('GET', '/lead/?_limit=200&_fields=id', NULL, 'bench')).body->'data') o; "
         "ANALYZE ids;")
    control("POST", "/config", {"rate_limit": {"limit": 20, "window": 1}, "latency_ms": 20})
    join = "SELECT count(*) FROM ids i JOIN %s l ON l.id = i.id"
    t_search, n_search = requests_of(join % "lead_search")
    t_get, n_get = requests_of(join % "lead")
    # 1 % of the leads: the last 100 generated (one every 10 minutes; the
    # seeded 250 are newer)
    last = "timestamptz '%s'" % gen["last_date_created"]
    q = ("SELECT count(*) FROM %%s WHERE date_created BETWEEN %s - interval '59400 seconds' AND %s"
         % (last, last))
    matched = int(psql((q % "lead_search") + ";")[0][0])
    t_filter, n_filter = requests_of(q % "lead_search")
    t_full, n_full = requests_of(q % "lead_list")
    control("POST", "/config", {"rate_limit": {"limit": 100000, "window": 1}, "latency_ms": 0})
    results.append(("Close's search: 10,000 leads, 20 requests per 1 s allowed, 20 ms latency", [
        ("200-id join through search", "%.2f s, %d requests" % (t_search, n_search)),
        ("200-id join by GET per id (use_search false)", "%.2f s, %d requests" % (t_get, n_get)),
        ("speed-up (target >= 20x)", "%.0fx" % (t_get / t_search)),
        ("filter matching %d of 10,000 leads (%.0f%%), through search" % (matched, matched / 100.0),
         "%.2f s, %d requests" % (t_filter, n_filter)),
        ("the same filter over the full listing (use_search false)", "%.2f s, %d requests" % (t_full, n_full)),
        ("requests of the search, as a share of the listing's (target <= 2%)",
         "%.1f%%" % (100.0 * n_filter / n_full)),
    ]))


def bench_listing(results):
    big_leads(10000)
    control("POST", "/config", {"latency_ms": 20})
    q = "SELECT count(*) FROM (SELECT id, display_name FROM lead) s"
    t_ra = timed(q, "SET closecrm_fdw.readahead_pages = 8;")
    t_no = timed(q, "SET closecrm_fdw.readahead_pages = 1;")
    control("POST", "/config", {"latency_ms": 0})
    t0 = timed(q)
    results.append(("listing 10,000 leads (100 pages) at 20 ms latency", [
        ("with read-ahead (readahead_pages 8)", "%.2f s" % t_ra),
        ("without (readahead_pages 1)", "%.2f s" % t_no),
        ("speed-up (target >= 4x)", "%.1fx" % (t_no / t_ra)),
        ("rows/s at 0 ms latency", "%.0f" % (10000 / t0)),
    ]))


def bench_rate_limit(results):
    big_leads(1000)
    ids = [o["id"] for o in control("GET", "/objects/lead")][:500]
    control("POST", "/config", {"rate_limit": {"limit": 50, "window": 1}})
    array = "ARRAY[%s]" % ",".join("'%s'" % i.replace("'", "''") for i in ids)
    rows = psql("SELECT closecrm_fdw_stats_reset();"
                "DO $$ BEGIN PERFORM set_config('bench.t0', clock_timestamp()::text, false); END $$;"
                "SELECT count(*) FROM lead WHERE id = ANY(%s);"
                "SELECT extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz);"
                "SELECT rate_limited, retries, transport_errors FROM closecrm_fdw_stats() "
                "WHERE server_name = 'bench';" % array)
    found = int(rows[0][0])
    secs = float(rows[1][0])
    rate_limited, retries, errors = rows[2]
    rate = 500 / secs
    results.append(("500 lookups under an emulated limit of 50 requests/s", [
        ("rows returned", "%d of 500 (errors: %s)" % (found, errors)),
        ("elapsed", "%.2f s" % secs),
        ("effective rate (target >= 90% of 50/s)", "%.1f/s (%.0f%%)" % (rate, 100 * rate / 50)),
        ("429 answers received", rate_limited),
        ("retries", retries),
    ]))
    control("POST", "/config", {"rate_limit": {"limit": 100000, "window": 1}})


SESSIONS_LIMIT = 20        # requests per window the emulator allows
SESSIONS_PER_SESSION = 60  # lookups each session sends


def sessions_run(n):
    """n sessions at once, each looking up its own 60 leads with one key,
    under 20 requests per 1 s window and 20 ms latency; figures from the
    sessions and from the emulator's request log."""
    ids = [o["id"] for o in control("GET", "/objects/lead")][:n * SESSIONS_PER_SESSION]
    control("POST", "/config", {"rate_limit": {"limit": SESSIONS_LIMIT, "window": 1}, "latency_ms": 20})
    control("POST", "/requests/clear")
    procs = []
    for k in range(n):
        chunk = ids[k * SESSIONS_PER_SESSION:(k + 1) * SESSIONS_PER_SESSION]
        array = "ARRAY[%s]" % ",".join("'%s'" % i.replace("'", "''") for i in chunk)
        procs.append(subprocess.Popen(
            ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
             "SELECT count(*) FROM lead_shared WHERE id = ANY(%s)" % array],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    found = 0
    errors = 0
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            errors += 1
            sys.stderr.write(err)
        else:
            found += int(out.strip())
    log = [r for r in control("GET", "/requests") if r["path"].startswith("/api/v1/lead/")]
    control("POST", "/config", {"rate_limit": {"limit": 100000, "window": 1}, "latency_ms": 0})
    answered = sum(1 for r in log if r["status"] == 200)
    rate_limited = sum(1 for r in log if r["status"] == 429)
    secs = max(r["t_end"] for r in log) - min(r["t_start"] for r in log)
    windows = int(secs) + 1     # the 1 s windows the run spans
    return {"sessions": n, "found": found, "expected": len(ids), "errors": errors,
            "answered": answered, "rate_limited": rate_limited, "secs": secs,
            "rate": answered / secs, "budget": answered / (SESSIONS_LIMIT * windows)}


def sessions_figures(r):
    return [
        ("rows returned", "%d of %d (sessions that failed: %d)" % (r["found"], r["expected"], r["errors"])),
        ("elapsed (first request to last answer)", "%.2f s" % r["secs"]),
        ("requests answered / s (target >= 90%% of %d)" % SESSIONS_LIMIT,
         "%.1f/s (%.0f%%)" % (r["rate"], 100 * r["rate"] / SESSIONS_LIMIT)),
        ("budget of the windows spanned that was used", "%.0f%%" % (100 * r["budget"])),
        ("429 answers received", "%d" % r["rate_limited"]),
    ]


def bench_sessions(results, fallback):
    big_leads(1000)
    for n in (4, 8):
        r = sessions_run(n)
        figures = sessions_figures(r)
        fb = fallback.get(str(n))
        if fb:
            figures.append(("without shared_preload_libraries (each backend paces alone)",
                            "%d of %d rows, %d sessions failed, %.1f/s, %d answers 429" % (
                                fb["found"], fb["expected"], fb["errors"], fb["rate"], fb["rate_limited"])))
        results.append(("%d sessions sharing one API key, %d requests per 1 s allowed" % (n, SESSIONS_LIMIT),
                        figures))


def bench_statements(results):
    control("POST", "/reset")
    rows = psql("""
        SELECT closecrm_fdw_stats_reset();
        CREATE TEMP TABLE t (ms float8);
        DO $$
        DECLARE t0 timestamptz; n int;
        BEGIN
          FOR i IN 1..1000 LOOP
            t0 := clock_timestamp();
            EXECUTE 'SELECT count(*) FROM lead WHERE id = $1' INTO n USING 'lead_0000000000000000000001';
            INSERT INTO t VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
          END LOOP;
        END $$;
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM t;
        SELECT connections_opened, requests FROM closecrm_fdw_stats() WHERE server_name = 'bench';""")
    median, p95 = float(rows[0][0]), float(rows[0][1])
    connections, requests = rows[1]
    results.append(("1,000 single-id statements in one session", [
        ("connections opened (target 1)", connections),
        ("requests", requests),
        ("median per statement", "%.2f ms" % median),
        ("95th percentile", "%.2f ms" % p95),
    ]))


def peak_memory(n):
    big_leads(n, 100 * 1024)
    rows = psql("""
        SELECT sum(length(description)) FROM lead;
        SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') from 'VmHWM:\\s+(\\d+) kB');""")
    return int(rows[1][0]) / 1024.0


def bench_memory(results):
    small = peak_memory(1000)
    large = peak_memory(10000)
    results.append(("peak backend memory (VmHWM) listing leads with 100 KB descriptions", [
        ("1,000 leads", "%.1f MB" % small),
        ("10,000 leads", "%.1f MB" % large),
        ("growth (target < 20 MB)", "%.1f MB" % (large - small)),
    ]))
    control("POST", "/reset")


def main():
    psql(SETUP)
    if len(sys.argv) > 1 and sys.argv[1] == "--sessions-only":
        # the cluster without shared_preload_libraries: figures for the main run
        big_leads(1000)
        with open(sys.argv[2], "w") as f:
            json.dump({str(n): sessions_run(n) for n in (4, 8)}, f)
        return
    fallback = {}
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        with open(sys.argv[2]) as f:
            fallback = json.load(f)
    results = []
    benches = [bench_search, bench_join, bench_listing, bench_rate_limit, bench_statements, bench_memory]
    if os.environ.get("BENCH_ONLY") == "sessions":
        benches = []
    for bench in benches + [lambda results: bench_sessions(results, fallback)]:
        started = time.monotonic()
        count = len(results)
        bench(results)
        for title, figures in results[count:]:
            print("== %s (%.0f s)" % (title, time.monotonic() - started))
            for name, value in figures:
                print("   %-55s %s" % (name, value))
        sys.stdout.flush()

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = ["# closecrm_fdw benchmark results", "",
             "Measured by `bash bench/run.sh` on %s UTC." % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
             "Machine: %s, %d cores, %s; PostgreSQL 15; emulator on loopback (test/close_emulator.py)." % (
                 cpu, os.cpu_count(), platform.platform()),
             "All ratios compare variants measured in the same run.", ""]
    for title, figures in results:
        lines.append("## " + title)
        lines.append("")
        lines.append("| measure | value |")
        lines.append("|---|---|")
        for name, value in figures:
            lines.append("| %s | %s |" % (name, value))
        lines.append("")
    lines += [
        "## Notes", "",
        "- Search: the emulator's `generate` makes 9,750 leads (10,000 with the seed), one every",
        "  10 minutes; its rate limit (20 per 1 s) applies to each endpoint group, so the search,",
        "  the lead GETs and the lead listing each have 20 requests per second. The join through",
        "  search looks its 200 ids up in one POST /data/search/; with use_search 'false' it sends",
        "  one GET per id. The filter is a `date_created BETWEEN` of 100 generated leads.",
        "- The join is a plain `JOIN lead l ON l.id = i.id`: the nested loop's lookup scan lists the",
        "  distinct ids from the local table once and looks them up concurrently (EXPLAIN VERBOSE:",
        "  \"Close Prefetch Ids From\"), then answers each outer row from what came back.",
        "- The emulator's rate limit is a fixed one-second window; an effective rate slightly above",
        "  the limit comes from the run starting and ending inside partial windows. 429s still",
        "  received are retried after Close's reset; none became an error.",
        "- Sessions sharing a key: closecrm_fdw is in shared_preload_libraries (bench/run.sh), so",
        "  the backends pace against one shared budget per API key and endpoint group; each session",
        "  is a separate psql looking up 60 leads of its own (max_concurrency 8, max_retries 0).",
        "  \"Budget used\" counts the answered requests against 20 per window spanned by the run.",
        "  The fallback row is the same run in a cluster without shared_preload_libraries.",
        "  429s in the shared runs come from their first window, when the shared state still holds",
        "  the limit of the benchmark before (the emulator's limit changes between benchmarks,",
        "  Close's does not); the first answers correct it.",
        "- Peak memory is dominated by one 10 MB page (100 leads x 100 KB) as response text plus its",
        "  parsed tree; read-ahead holds at most 8 MB of pages at once, so the peak does not grow with",
        "  the number of rows.", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(lines))
    print("written to %s" % OUT)


if __name__ == "__main__":
    main()
