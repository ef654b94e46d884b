#!/usr/bin/env python3
"""Self-test of test/close_emulator.py (standard library only).

    python3 test/emulator_selftest.py [--bench] [--verbose]

Starts the emulator on a free port, exercises every feature over HTTP and
prints "N passed, M failed" as its last line; exit status 1 on any failure.
--bench also measures GET-by-id throughput over keep-alive connections.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "close_emulator.py")
KEY = "test_key_alpha"
KEY2 = "test_key_beta"
ACME = "lead_0000000000000000000001"
SLASH = "lead_a/b?c#d"
UNI = "lead_ünïcødé"
UNAUTH = ("The server could not verify that you are authorized to access the URL requested.  "
          "You either supplied the wrong credentials (e.g. a bad password), or your browser "
          "doesn't understand how to supply the credentials required.")

PASSED = 0
FAILED = 0
VERBOSE = "--verbose" in sys.argv


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        if VERBOSE:
            print("ok   %s" % name)
    else:
        FAILED += 1
        print("FAIL %s %s" % (name, detail if isinstance(detail, str) else repr(detail)[:500]))
    return cond


def enc(s):
    return urllib.parse.quote(s, safe="")


def basic(key, password=""):
    return "Basic " + base64.b64encode(("%s:%s" % (key, password)).encode()).decode()


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.raw_headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None


class Client:
    """One keep-alive connection."""

    def __init__(self, port, key=KEY, timeout=10, tls=False):
        self.port = port
        self.key = key
        self.timeout = timeout
        self.tls = tls
        self.conn = None

    def connect(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=self.timeout, context=ctx)
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def req(self, method, path, body=None, headers=None, key="default", ctype="application/json"):
        if self.conn is None:
            self.connect()
        h = dict(headers or {})
        k = self.key if key == "default" else key
        if k is not None:
            h["Authorization"] = basic(k)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            if ctype:
                h["Content-Type"] = ctype
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
            b = r.read()
        except Exception:
            self.close()
            raise
        if r.will_close:
            self.close()
        return Resp(r.status, r.getheaders(), b)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None


def control(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/_emulator" + path, body=data,
              headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    b = r.read()
    c.close()
    return json.loads(b) if b else None


def start_emulator(extra=()):
    tmp = tempfile.mkdtemp(prefix="emu_selftest_")
    port_file = os.path.join(tmp, "port")
    errf = open(os.path.join(tmp, "stderr"), "wb")
    proc = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", port_file] + list(extra),
                            stdout=subprocess.DEVNULL, stderr=errf)
    errf.close()
    deadline = time.time() + 15
    while time.time() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                txt = f.read().strip()
            if txt:
                return proc, int(txt), tmp
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    with open(os.path.join(tmp, "stderr"), errors="replace") as f:
        raise SystemExit("emulator did not start: %s" % f.read())


def stop_emulator(proc, tmp=None):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


def ratelimit_parse(v):
    out = {}
    for part in re.split(r"[;,]", v or ""):
        if "=" in part:
            k, x = part.strip().split("=", 1)
            out[k.strip().lower()] = float(x)
    return out


def iso(s):
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------
def test_auth(port):
    c = Client(port)
    r = c.get("/api/v1/lead/%s/" % ACME, key=None)
    check("auth: missing -> 401", r.status == 401, r.status)
    check("auth: 401 body text", r.json == {"error": UNAUTH}, r.body)
    check("auth: 401 is json", r.headers.get("content-type", "").startswith("application/json"))
    r = c.get("/api/v1/lead/%s/" % ACME, key="wrong_key")
    check("auth: wrong key -> 401", r.status == 401)
    r = c.get("/api/v1/lead/%s/" % ACME, key=None, headers={"Authorization": basic(KEY, "secret")})
    check("auth: non-empty password -> 401", r.status == 401)
    r = c.get("/api/v1/lead/%s/" % ACME, key=None, headers={"Authorization": "Bearer " + KEY})
    check("auth: bearer -> 401", r.status == 401)
    r = c.get("/api/v1/lead/%s/" % ACME, key=KEY2)
    check("auth: second default key ok", r.status == 200, r.status)
    log = control(port, "GET", "/requests")
    auths = [e["auth"] for e in log[-6:]]
    check("log: auth states", auths == ["none", "basic-bad", "basic-bad", "basic-bad", "basic-ok", "basic-ok"][:0] + auths
          and auths[0] == "none" and auths[1] == "basic-bad" and auths[-1] == "basic-ok", auths)
    dump = json.dumps(log)
    check("log: never stores the key or Authorization", KEY not in dump and basic(KEY) not in dump
          and base64.b64encode(KEY.encode()).decode()[:12] not in dump)
    c.close()


def test_get(port):
    c = Client(port)
    r = c.get("/api/v1/lead/%s/" % ACME)
    check("get: 200", r.status == 200, r.status)
    o = r.json or {}
    check("get: content-type json", r.headers.get("content-type") == "application/json")
    check("get: content-length", int(r.headers.get("content-length", -1)) == len(r.body))
    check("get: Acme fields", o.get("id") == ACME and o.get("name") == "Acme Corporation"
          and o.get("display_name") == "Acme Corporation" and "Zoë Łódź 東京 😀" in o.get("description", ""), o)
    check("get: custom number/date/datetime/multi",
          o.get("custom.cf_lead_number") == 1250 and o.get("custom.cf_lead_date") == "2024-05-01"
          and o.get("custom.cf_lead_multi") == ["Widgets", "Gadgets"]
          and o.get("custom.cf_lead_datetime", "").endswith("+00:00"))
    check("get: timestamps micro + offset",
          re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$", o.get("date_created", "")) is not None,
          o.get("date_created"))
    check("get: addresses nested", isinstance(o.get("addresses"), list) and o["addresses"][0]["city"] == "Łódź"
          and o["addresses"][0]["address_2"] is None)
    check("get: embedded contacts with emails/phones", len(o.get("contacts", [])) == 3
          and o["contacts"][0]["emails"][0]["email"] == "zoe.lodz@acme.example"
          and o.get("contact_ids") == [x["id"] for x in o["contacts"]])
    check("get: embedded opportunities/tasks", len(o.get("opportunities", [])) == 2
          and all(not t["is_complete"] for t in o.get("tasks", [])) and len(o.get("tasks", [])) == 1)
    r = c.get("/api/v1/lead/%s/?_fields=name,custom" % ACME)
    check("get: _fields", set(r.json) == {"id", "name"} | {k for k in r.json if k.startswith("custom.")}
          and "custom.cf_lead_number" in r.json and "contacts" not in r.json, r.json)
    r = c.get("/api/v1/lead/%s/?_fields=name" % ACME)
    check("get: _fields id always", r.json == {"id": ACME, "name": "Acme Corporation"}, r.json)
    r = c.get("/api/v1/lead/lead_doesnotexist/")
    check("get: 404 text", r.status == 404 and r.json == {"error": "Empty query: Lead matching query does not exist."}, r.body)
    r = c.get("/api/v1/custom_field/lead/cf_nope/")
    check("get: 404 model name", r.json == {"error": "Empty query: LeadCustomField matching query does not exist."}, r.body)
    r = c.get("/api/v1/custom_field/lead/cf_lead_number/")
    check("get: custom field def", r.status == 200 and r.json["type"] == "number" and r.json["name"] == "Employees")
    r = c.get("/api/v1/custom_field/lead/cf_lead_multi/")
    check("get: multi def", r.json["accepts_multiple_values"] is True and "Widgets" in r.json["choices"])
    r = c.get("/api/v1/opportunity/oppo_0000000000000000000001/")
    o = r.json
    check("get: opportunity value cents/date_won", o["value"] == 1250000 and o["value_currency"] == "USD"
          and o["value_period"] == "annual" and o["date_won"] == "2024-05-15", o)
    r = c.get("/api/v1/webhook/whsub_0000000000000000000001/")
    check("get: naive timestamp on webhook", re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$",
                                                     r.json.get("date_created", "")) is not None, r.json)
    r = c.get("/api/v1/event/ev_0000000000000000000001/")
    check("get: naive timestamp on event", r.status == 200 and "+" not in r.json["date_updated"])
    r = c.get("/api/v1/task/noti_0000000000000000000001/")
    check("get: noti task", r.status == 200 and r.json["_type"] != "lead")
    r = c.get("/api/v1/unsubscribe/email/%s/" % enc("unsubscribed@customer.example"))
    check("get: unsubscribe/email has no GET -> 405", r.status == 405, r.status)
    c.close()


def test_encoding(port):
    c = Client(port)
    for lid, name in ((SLASH, "Slash/Question?Hash# Ltd."), (UNI, "Ünïcødé Ŝtüdiø 東京 😀")):
        r = c.get("/api/v1/lead/%s/" % enc(lid))
        check("encoding: get %r" % lid, r.status == 200 and r.json["id"] == lid and r.json["name"] == name,
              (r.status, r.body[:200]))
    r = c.get("/api/v1/lead/lead_a/b%3Fc%23d/")
    check("encoding: unencoded slash -> 404", r.status == 404)
    log = control(port, "GET", "/requests")
    e = [x for x in log if x["path"] == "/api/v1/lead/%s/" % SLASH]
    check("encoding: log raw_path vs path", e and e[0]["raw_path"] == "/api/v1/lead/lead_a%2Fb%3Fc%23d/", e)
    r = c.get("/api/v1/lead/?_limit=5&_fields=id")
    ids = [x["id"] for x in r.json["data"]]
    check("encoding: special ids in listing", SLASH in ids and UNI in ids, ids)
    c.close()


def raw_exchange(port, data, read_until_close=True, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if not read_until_close and b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length: *(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    s.close()
    return out


def test_raw_http(port):
    auth = basic(KEY).encode()
    out = raw_exchange(port, "GET /api/v1/lead/lead_ünïcødé/?_fields=name HTTP/1.1\r\nHost: x\r\n".encode()
                       + b"Authorization: " + auth + b"\r\nConnection: close\r\n\r\n")
    check("raw: unencoded UTF-8 path accepted", out.startswith(b"HTTP/1.1 200") and "Ünïcødé".encode() in out, out[:300])
    check("raw: Connection: close honoured", b"\r\nConnection: close\r\n" in out)
    log = control(port, "GET", "/requests")
    check("raw: log shows unencoded raw_path", log[-1]["raw_path"] == "/api/v1/lead/lead_ünïcødé/", log[-1]["raw_path"])
    body = json.dumps({"lead_id": ACME, "name": "Chunked Ünï"}).encode()
    chunked = b"%x\r\n" % 10 + body[:10] + b"\r\n" + b"%x\r\n" % (len(body) - 10) + body[10:] + b"\r\n0\r\n\r\n"
    out = raw_exchange(port, b"POST /api/v1/contact/ HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                       b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked +
                       b"GET /api/v1/lead/" + ACME.encode() + b"/?_fields=id HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                       b"\r\nConnection: close\r\n\r\n")
    check("raw: chunked POST then pipelined GET", out.startswith(b"HTTP/1.1 200") and out.count(b"HTTP/1.1 200") == 2
          and "Chunked Ünï".encode() in out, out[:300])
    out = raw_exchange(port, b"GET /api/v1/lead/" + ACME.encode() + b"/?_fields=id HTTP/1.0\r\nAuthorization: " + auth + b"\r\n\r\n")
    check("raw: HTTP/1.0 closes", out.startswith(b"HTTP/1.1 200") and out.endswith(b"}"))
    out = raw_exchange(port, b"POST /api/v1/contact/ HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                       b"\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
                       + body, read_until_close=False, timeout=2)
    check("raw: Expect 100-continue", out.startswith(b"HTTP/1.1 100") and b"HTTP/1.1 200" in out, out[:200])
    c = Client(port)
    for path, want in (("/api/v1/lead", 301), ("/api/v1/nope/", 404), ("/api/v1/user/user_0000000000000000000001/", 200)):
        r = c.get(path, key=None if want == 200 else KEY)
        check("raw: Content-Length on %s" % path, int(r.headers.get("content-length", -1)) == len(r.body))
    control(port, "POST", "/reset")
    c.close()


def test_routing(port):
    c = Client(port)
    r = c.get("/api/v1/lead/%s?_fields=name" % ACME)
    check("routing: no slash -> 301", r.status == 301, r.status)
    check("routing: Location has slash + query", r.headers.get("location", "").endswith(
        "/api/v1/lead/%s/?_fields=name" % ACME), r.headers.get("location"))
    r = c.get("/api/v1/lead")
    check("routing: collection no slash -> 301", r.status == 301 and r.headers["location"].endswith("/api/v1/lead/"))
    r = c.get("/api/v1/nosuchthing/")
    check("routing: unknown collection 404", r.status == 404 and isinstance(r.json.get("error"), str))
    r = c.get("/api/v1/lead/x/y/z/")
    check("routing: extra segments 404", r.status == 404)
    r = c.req("DELETE", "/api/v1/user/user_0000000000000000000001/")
    check("routing: DELETE user -> 405", r.status == 405 and r.json == {"error": "Method not allowed"}, r.body)
    r = c.req("POST", "/api/v1/event/", body={})
    check("routing: POST event -> 405", r.status == 405)
    r = c.req("PATCH", "/api/v1/lead/%s/" % ACME, body={})
    check("routing: PATCH -> 405", r.status == 405)
    r = c.get("/api/v1/activity/acti_0000000000000000000001/")
    check("routing: GET /activity/{id}/ (no generic get) -> 405", r.status == 405)
    r = c.get("/api/v1/activity/note/acti_0000000000000000000001/")
    check("routing: typed activity get", r.status == 200 and r.json["_type"] == "Note")
    r = c.get("/api/v1/activity/status_change/lead/?_limit=3")
    check("routing: 3-segment collection", r.status == 200 and len(r.json["data"]) == 3
          and r.json["data"][0]["_type"] == "LeadStatusChange")
    r = c.get("/api/v1/me/", key=KEY2)
    check("routing: GET /me/", r.status == 200 and r.json["id"] == "user_0000000000000000000002"
          and r.json["organizations"][0]["id"] == "orga_0000000000000000000001" and "ratelimit" in r.headers)
    check("routing: /me/ needs auth", c.get("/api/v1/me/", key=None).status == 401)
    check("routing: /me redirect", c.get("/api/v1/me").status == 301)
    r = c.get("/api/v1/organization/")
    check("routing: organization list -> 405", r.status == 405)
    r = c.get("/api/v1/organization/orga_0000000000000000000001/")
    check("routing: organization get", r.status == 200)
    c.close()


def test_keepalive(port):
    control(port, "POST", "/requests/clear")
    c = Client(port)
    for _ in range(5):
        r = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    c2 = Client(port)
    c2.get("/api/v1/lead/%s/?_fields=id" % ACME)
    r = c.req("DELETE", "/api/v1/webhook/nope/")
    c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    log = control(port, "GET", "/requests")
    conns = [e["connection"] for e in log]
    check("keepalive: one connection reused", len(set(conns[:5])) == 1 and conns[6] == conns[0]
          and conns[7] == conns[0], conns)
    check("keepalive: second connection distinct", conns[5] != conns[0], conns)
    check("keepalive: seq increasing", [e["seq"] for e in log] == sorted(e["seq"] for e in log))
    check("keepalive: in_flight counts itself", all(e["in_flight"] >= 1 for e in log))
    check("keepalive: timing fields", all(e["t_end"] >= e["t_start"] for e in log))
    c.close()
    c2.close()


def test_paging(port):
    c = Client(port)
    seen = []
    pages = []
    skip = 0
    while True:
        r = c.get("/api/v1/lead/?_skip=%d&_fields=id,date_created" % skip)
        pages.append((len(r.json["data"]), r.json["has_more"], r.json.get("total_results")))
        seen += [x["id"] for x in r.json["data"]]
        if not r.json["has_more"]:
            break
        skip += len(r.json["data"])
    check("paging: 3 pages 100/100/50", pages == [(100, True, 250), (100, True, 250), (50, False, 250)], pages)
    all_ids = control(port, "GET", "/ids")["lead"]
    check("paging: all 250 distinct ids", len(set(seen)) == 250 and set(seen) == set(all_ids))
    check("paging: Acme first", seen[0] == ACME)
    r = c.get("/api/v1/lead/?_limit=200&_fields=id")
    check("paging: _limit 200 ok", r.status == 200 and len(r.json["data"]) == 200 and r.json["has_more"])
    r = c.get("/api/v1/lead/?_limit=201")
    check("paging: _limit 201 -> 400", r.status == 400 and "200" in r.json.get("error", ""), r.body)
    r = c.get("/api/v1/lead/?_limit=abc")
    check("paging: bad _limit -> 400", r.status == 400)
    r = c.get("/api/v1/lead/?_skip=250001")
    check("paging: max_skip text", r.status == 400 and r.json == {"error": "The skip you set is larger than the maximum skip for this resource (max_skip = 250000). Please refine your search query."}, r.body)
    r = c.get("/api/v1/lead/?_skip=250000&_fields=id")
    check("paging: skip == max ok", r.status == 200 and r.json["data"] == [] and r.json["has_more"] is False)
    control(port, "POST", "/config", {"max_skip": {"lead": 100}, "max_limit": {"lead": 50}})
    r = c.get("/api/v1/lead/?_skip=150&_limit=10")
    check("paging: configured max_skip", r.status == 400 and "max_skip = 100" in r.json["error"], r.body)
    r = c.get("/api/v1/lead/?_limit=60")
    check("paging: configured max_limit", r.status == 400 and "50" in r.json["error"], r.body)
    r = c.get("/api/v1/lead/?_fields=id")
    check("paging: default limit capped by max_limit", r.status == 200 and len(r.json["data"]) == 50, r.status)
    control(port, "POST", "/reset")
    # cursor (event)
    ids, cursor, n, prev = [], None, 0, None
    while True:
        q = "/api/v1/event/?_fields=id,date_updated&_skip=7" + ("&_cursor=" + cursor if cursor else "")
        r = c.get(q)
        if r.status != 200:
            break
        n += 1
        ids += [x["id"] for x in r.json["data"]]
        if n == 2:
            prev = r.json["cursor_previous"]
        check("cursor: envelope", set(r.json) == {"data", "cursor_next", "cursor_previous"}, list(r.json))
        cursor = r.json["cursor_next"]
        if not cursor:
            break
    check("cursor: 120 events in pages of 50", n == 3 and len(ids) == 120 and len(set(ids)) == 120, (n, len(ids)))
    check("cursor: newest first", ids[0] == "ev_0000000000000000000001")
    r = c.get("/api/v1/event/?_fields=id&_cursor=" + prev)
    check("cursor: cursor_previous returns the page before",
          r.status == 200 and [x["id"] for x in r.json["data"]] == ids[:50], r.body[:200])
    r = c.get("/api/v1/event/?_limit=51")
    check("cursor: _limit > 50 -> 400", r.status == 400)
    r = c.get("/api/v1/event/?_cursor=garbage!!")
    check("cursor: bad cursor -> 400", r.status == 400)
    r = c.get("/api/v1/event/?lead_id=%s&object_type=lead" % ACME)
    check("event filters: allowed combo", r.status == 200 and all(e["object_type"] == "lead" and e["lead_id"] == ACME
                                                                  for e in r.json["data"]) and r.json["data"])
    r = c.get("/api/v1/event/?action=created")
    check("event filters: disallowed combo -> 400", r.status == 400, r.status)
    r = c.get("/api/v1/event/?object_type=lead&action=updated&date_updated__gte=2024-05-31T00:00:00")
    check("event filters: date_updated free", r.status == 200 and all(
        iso(e["date_updated"]) >= datetime(2024, 5, 31, tzinfo=timezone.utc) for e in r.json["data"]))
    # single
    r = c.get("/api/v1/webhook/?_limit=1&_skip=1")
    check("single: everything, has_more false", r.status == 200 and len(r.json["data"]) == 3
          and r.json["has_more"] is False and "total_results" not in r.json)
    r = c.get("/api/v1/pipeline/")
    check("single: pipeline list", r.status == 200 and len(r.json["data"]) == 3)
    c.close()


def test_filters(port):
    c = Client(port)
    r = c.get("/api/v1/task/?_limit=200")
    types = {t["_type"] for t in r.json["data"]}
    check("task: default only _type lead", types == {"lead"} and len(r.json["data"]) == 61, (types, len(r.json["data"])))
    r = c.get("/api/v1/task/?_type=missed_call")
    check("task: _type=missed_call", r.json["data"] and {t["_type"] for t in r.json["data"]} == {"missed_call"}
          and all(t["id"].startswith("noti_") for t in r.json["data"]))
    r = c.get("/api/v1/task/?_type__in=missed_call,voicemail&_limit=200")
    check("task: _type__in", {t["_type"] for t in r.json["data"]} == {"missed_call", "voicemail"})
    r = c.get("/api/v1/task/?_type=all&_limit=200")
    check("task: _type=all", len(r.json["data"]) == 84, len(r.json["data"]))
    r = c.get("/api/v1/task/?is_complete=true&_fields=is_complete")
    check("task: boolean filter", r.json["data"] and all(t["is_complete"] is True for t in r.json["data"]))
    r = c.get("/api/v1/task/?is_complete=maybe")
    check("task: bad boolean -> 400", r.status == 400)
    r = c.get("/api/v1/task/?view=archive&_fields=is_complete")
    check("task: view=archive", r.json["data"] and all(t["is_complete"] for t in r.json["data"]))
    r = c.get("/api/v1/task/?view=inbox&_limit=200")
    check("task: view=inbox", r.status == 200 and r.json["data"] and not any(t["is_complete"] for t in r.json["data"]))
    r = c.get("/api/v1/task/?view=future&_limit=200")
    check("task: view=future (seed dates are past)", r.status == 200 and r.json["data"] == [])
    r = c.get("/api/v1/task/?date=2024-06-03&lead_id=%s" % ACME)
    check("task: date equality", [t["text"] for t in r.json["data"]] == ["Call Zoë about the renewal 📞"], r.body[:300])
    ids = control(port, "GET", "/ids")["task"][:3]
    r = c.get("/api/v1/task/?id__in=%s&_type=all" % ",".join(ids))
    check("task: id__in", sorted(t["id"] for t in r.json["data"]) == sorted(ids))
    r = c.get("/api/v1/task/?_order_by=date_created&_fields=date_created")
    ds = [iso(t["date_created"]) for t in r.json["data"]]
    check("task: _order_by asc", ds == sorted(ds))
    r = c.get("/api/v1/contact/?lead_id=%s" % ACME)
    check("contact: lead_id filter", len(r.json["data"]) == 3 and all(x["lead_id"] == ACME for x in r.json["data"]))
    r = c.get("/api/v1/contact/?lead_id=%s" % enc(SLASH))
    check("contact: lead_id with special chars", r.json["data"] and r.json["data"][0]["lead_id"] == SLASH)
    r = c.get("/api/v1/contact/?unknown_param=1&_limit=2")
    check("contact: unknown param ignored", r.status == 200 and len(r.json["data"]) == 2)
    log = control(port, "GET", "/requests")
    check("log: ignored params recorded", "unknown_param" in log[-1].get("ignored_params", []), log[-1])
    # opportunity timestamp filters with offsets
    opps = control(port, "GET", "/objects/opportunity")
    o = opps[5]
    t = iso(o["date_created"])
    from datetime import timedelta
    t2 = t.astimezone(timezone(timedelta(hours=2))).isoformat()
    r = c.get("/api/v1/opportunity/?date_created=%s&_limit=200" % enc(t2))
    check("opp: equality across offsets", [x["id"] for x in r.json["data"]] == [o["id"]], (t2, r.body[:300]))
    r = c.get("/api/v1/opportunity/?date_created__gte=%s&_limit=200" % enc(t2))
    expect = sorted(x["id"] for x in opps if iso(x["date_created"]) >= t)
    check("opp: __gte instant", sorted(x["id"] for x in r.json["data"]) == expect and r.json["total_results"] == len(expect))
    naive = t.replace(tzinfo=None).isoformat()
    r = c.get("/api/v1/opportunity/?date_created__gt=%s&_limit=200" % enc(naive))
    expect = sorted(x["id"] for x in opps if iso(x["date_created"]) > t)
    check("opp: naive value = UTC", sorted(x["id"] for x in r.json["data"]) == expect)
    r = c.get("/api/v1/opportunity/?date_created__gt=2024-05-01T00:00:00+00:00")
    check("opp: unencoded '+' -> 400", r.status == 400, r.status)
    r = c.get("/api/v1/opportunity/?date_won__gte=2024-05-15&_limit=200")
    expect = sorted(x["id"] for x in opps if x["date_won"] and x["date_won"] >= "2024-05-15")
    check("opp: date compare", sorted(x["id"] for x in r.json["data"]) == expect and expect, expect)
    r = c.get("/api/v1/opportunity/?date_created__lt=2024-03-01&_limit=200")
    expect = sorted(x["id"] for x in opps if iso(x["date_created"]) < datetime(2024, 3, 1, tzinfo=timezone.utc))
    check("opp: datetime field vs date param", sorted(x["id"] for x in r.json["data"]) == expect)
    r = c.get("/api/v1/opportunity/?value_period__in=monthly,annual&status_type=won&_limit=200")
    expect = sorted(x["id"] for x in opps if x["value_period"] in ("monthly", "annual") and x["status_type"] == "won")
    check("opp: __in + eq", sorted(x["id"] for x in r.json["data"]) == expect and expect)
    r = c.get("/api/v1/opportunity/?is_stalled=true&_limit=200")
    check("opp: boolean", sorted(x["id"] for x in r.json["data"]) == sorted(x["id"] for x in opps if x["is_stalled"]))
    r = c.get("/api/v1/opportunity/?_order_by=-value&_limit=200&_fields=value")
    vals = [x["value"] for x in r.json["data"]]
    nn = [v for v in vals if v is not None]
    check("opp: _order_by -value (nulls last)", nn == sorted(nn, reverse=True) and vals[:len(nn)] == nn)
    check("opp: aggregates", "total_value_annual" in r.json and "count_by_value_period" in r.json)
    r = c.get("/api/v1/activity/?lead_id=%s&_limit=200" % ACME)
    types = {a["_type"] for a in r.json["data"]}
    check("activity: generic list spans types", len(types) >= 5 and all(a["lead_id"] == ACME for a in r.json["data"]), types)
    r = c.get("/api/v1/activity/?_type__in=Note,Call&_limit=200")
    check("activity: _type__in", {a["_type"] for a in r.json["data"]} == {"Note", "Call"} and len(r.json["data"]) == 120)
    # required filters
    r = c.get("/api/v1/comment/")
    check("required: comment 400 names both", r.status == 400 and "object_id" in r.json["error"]
          and "thread_id" in r.json["error"], r.body)
    r = c.get("/api/v1/comment/?object_id=%s" % ACME)
    check("required: comment with object_id", r.status == 200 and len(r.json["data"]) == 2)
    r = c.get("/api/v1/custom_object/")
    check("required: custom_object needs lead_id", r.status == 400 and "lead_id" in r.json["error"])
    r = c.get("/api/v1/custom_object/?lead_id=%s" % ACME)
    check("required: custom_object ok", r.status == 200 and len(r.json["data"]) == 3)
    r = c.get("/api/v1/sequence_subscription/")
    check("required: sequence_subscription", r.status == 400 and "sequence_id" in r.json["error"])
    r = c.get("/api/v1/sequence_subscription/?lead_id=%s" % ACME)
    check("required: sequence_subscription ok", r.status == 200)
    # POST with X-HTTP-Method-Override: GET
    r = c.req("POST", "/api/v1/task/", body={"_params": {"id__in": ids, "_type": "all"}},
              headers={"X-HTTP-Method-Override": "GET"})
    check("override: POST as GET with _params", r.status == 200 and sorted(t["id"] for t in r.json["data"]) == sorted(ids),
          r.body[:300])
    c.close()


def test_writes(port):
    c = Client(port)
    pristine = c.get("/api/v1/lead/%s/" % ACME).json
    r = c.req("POST", "/api/v1/contact/", body={"name": "No Lead"})
    check("create: missing lead_id", r.status == 400 and r.json == {"errors": [], "field-errors": {"lead_id": "This field is required."}}, r.body)
    r = c.req("POST", "/api/v1/contact/", body={"name": "X", "lead_id": "lead_missing"})
    check("create: unknown lead", r.status == 400 and r.json["field-errors"] == {"lead_id": "Lead does not exist."}, r.body)
    r = c.req("POST", "/api/v1/task/", body={"lead_id": ACME})
    check("create: task needs text", r.status == 400 and "text" in r.json["field-errors"])
    r = c.req("POST", "/api/v1/custom_field/lead/", body={})
    check("create: custom field name/type", r.status == 400 and set(r.json["field-errors"]) == {"name", "type"})
    r = c.req("POST", "/api/v1/activity/note/", body={"note": "x"})
    check("create: activity needs lead_id", r.status == 400 and "lead_id" in r.json["field-errors"])
    r = c.req("POST", "/api/v1/contact/", body=[1, 2])
    check("create: non-object body", r.status == 400 and r.json["errors"] and r.json["field-errors"] == {}, r.body)
    r = c.req("POST", "/api/v1/contact/", body=b"{bad json")
    check("create: bad json", r.status == 400 and "errors" in r.json)
    r = c.req("POST", "/api/v1/contact/", body=b"name=x", ctype="application/x-www-form-urlencoded")
    check("create: wrong content type -> 415", r.status == 415, r.status)
    r = c.req("POST", "/api/v1/contact/", body={"lead_id": ACME, "name": "Neu Kontakt ñ", "emails": [{"email": "n@x.example", "type": "office"}]})
    check("create: contact 200", r.status == 200 and r.json["id"].startswith("cont_") and r.json["display_name"] == "Neu Kontakt ñ"
          and r.json["organization_id"].startswith("orga_") and "location" not in r.headers, r.body[:300])
    new_contact = r.json["id"]
    check("create: timestamps now", abs((iso(r.json["date_created"]) - datetime.now(timezone.utc)).total_seconds()) < 60)
    r = c.get("/api/v1/lead/%s/?_fields=contacts" % ACME)
    check("create: lead embeds new contact", new_contact in [x["id"] for x in r.json["contacts"]])
    r = c.req("POST", "/api/v1/lead/", body={"name": "Brand New Lead", "custom.cf_lead_number": 7})
    check("create: lead", r.status == 200 and r.json["id"].startswith("lead_") and r.json["display_name"] == "Brand New Lead"
          and r.json["custom.cf_lead_number"] == 7)
    new_lead = r.json["id"]
    r = c.get("/api/v1/lead/?_limit=1&_fields=id")
    check("create: new lead first in default order", r.json["data"][0]["id"] == new_lead and r.json["total_results"] == 251)
    r = c.req("POST", "/api/v1/task/", body={"lead_id": ACME, "text": "Neu", "date": "2024-07-01"})
    check("create: task", r.status == 200 and r.json["id"].startswith("task_") and r.json["_type"] == "lead")
    r = c.req("POST", "/api/v1/webhook/", body={"url": "https://hooks.example/new", "events": [{"object_type": "lead", "action": "created"}]})
    check("create: 201 + Location", r.status == 201 and r.json["id"].startswith("whsub_")
          and r.headers.get("location", "").endswith("/api/v1/webhook/%s/" % r.json["id"])
          and "+" not in r.json["date_created"], (r.status, r.headers))
    r = c.req("POST", "/api/v1/activity/note/", body={"lead_id": ACME, "note": "hi"})
    check("create: note", r.status == 200 and r.json["_type"] == "Note" and r.json["id"].startswith("acti_"))
    r = c.req("POST", "/api/v1/lead/", body={"name": "With Contacts", "contacts": [{"name": "Inline Ünï", "emails": []}]})
    lid = r.json["id"]
    r = c.get("/api/v1/contact/?lead_id=%s" % enc(lid))
    check("create: lead with inline contacts", [x["name"] for x in r.json["data"]] == ["Inline Ünï"], r.body[:300])
    r = c.get("/api/v1/lead/%s/?_fields=contacts,contact_ids" % enc(lid))
    check("create: inline contact embedded", len(r.json["contacts"]) == 1 and r.json["contact_ids"] == [r.json["contacts"][0]["id"]])
    r = c.req("POST", "/api/v1/custom_field/lead/", body={"name": "New CF", "type": "number"})
    check("create: custom field", r.status == 200 and r.json["id"].startswith("cf_") and r.json["accepts_multiple_values"] is False)
    r = c.req("POST", "/api/v1/custom_field/lead/", body={"name": "Bad", "type": "banana"})
    check("create: custom field bad type", r.status == 400 and "type" in r.json["field-errors"])
    # update
    before = c.get("/api/v1/lead/%s/" % ACME).json
    time.sleep(0.01)
    r = c.req("PUT", "/api/v1/lead/%s/" % ACME, body={"name": "Acme Renamed", "description": None,
                                                     "custom.cf_lead_text": None, "custom.cf_lead_multi.add": "Gizmos"})
    o = r.json
    check("update: 200 full object", r.status == 200 and o["name"] == "Acme Renamed" and o["display_name"] == "Acme Renamed"
          and o["description"] is None and "custom.cf_lead_text" not in o and o["url"] == before["url"]
          and o["custom.cf_lead_multi"] == ["Widgets", "Gadgets", "Gizmos"], o)
    check("update: date_updated bumped", iso(o["date_updated"]) > iso(before["date_updated"])
          and o["date_created"] == before["date_created"])
    r = c.req("PUT", "/api/v1/lead/%s/" % ACME, body={"id": "lead_other"})
    check("update: changing id -> 400", r.status == 400 and "id" in r.json["field-errors"])
    r = c.req("PUT", "/api/v1/lead/lead_missing/", body={"name": "x"})
    check("update: missing -> 404", r.status == 404 and r.json["error"].startswith("Empty query"))
    r = c.req("PUT", "/api/v1/lead/%s/" % enc(SLASH), body={"url": "https://x.example"})
    check("update: special id", r.status == 200 and r.json["url"] == "https://x.example")
    r = c.req("PUT", "/api/v1/contact/%s/" % new_contact, body={"lead_id": "lead_nope"})
    check("update: lead_id must exist", r.status == 400)
    # delete
    r = c.req("DELETE", "/api/v1/webhook/whsub_0000000000000000000001/")
    check("delete: 200 {}", r.status == 200 and r.body == b"{}" and r.headers.get("content-type") == "application/json", r.body)
    r = c.req("DELETE", "/api/v1/webhook/whsub_0000000000000000000001/")
    check("delete: again -> 404", r.status == 404)
    r = c.req("DELETE", "/api/v1/pipeline/pipe_0000000000000000000001/")
    check("delete: 204 empty", r.status == 204 and r.body == b"" and "content-length" not in r.headers, (r.status, r.headers))
    r = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    check("delete: connection usable after 204", r.status == 200)
    r = c.req("DELETE", "/api/v1/custom_object/custobj_0000000000000000000001/")
    check("delete: custom_object 204", r.status == 204)
    r = c.req("DELETE", "/api/v1/lead/%s/" % enc(UNI))
    check("delete: lead with unicode id", r.status == 200 and r.json == {})
    r = c.get("/api/v1/lead/%s/" % enc(UNI))
    check("delete: then 404", r.status == 404)
    r = c.get("/api/v1/contact/?lead_id=%s" % enc(UNI))
    check("delete: lead cascade to contacts", r.status == 200 and r.json["data"] == [])
    r = c.get("/api/v1/event/?lead_id=%s" % enc(UNI))
    check("delete: events stay", r.status == 200)
    r = c.req("DELETE", "/api/v1/unsubscribe/email/%s/" % enc("zoë@ünïcødé.example"))
    check("delete: unsubscribe/email by address", r.status == 200, r.status)
    # reset restores everything
    control(port, "POST", "/reset")
    check("reset: log cleared", control(port, "GET", "/requests") == [])
    r = c.get("/api/v1/lead/%s/" % ACME)
    check("reset: restores data", r.json["name"] == "Acme Corporation" and r.json == pristine, "")
    check("reset: restores deleted", c.get("/api/v1/webhook/whsub_0000000000000000000001/").status == 200
          and c.get("/api/v1/lead/%s/" % enc(UNI)).status == 200)
    c.close()


def test_ratelimit(port):
    c = Client(port)
    r = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    rl = ratelimit_parse(r.headers.get("ratelimit"))
    check("ratelimit: header on every response", set(rl) == {"limit", "remaining", "reset"}, r.headers)
    control(port, "POST", "/config", {"rate_limit": {"limit": 3, "window": 2}})
    statuses = [c.get("/api/v1/lead/%s/?_fields=id" % ACME) for _ in range(4)]
    check("ratelimit: 3 allowed then 429", [x.status for x in statuses] == [200, 200, 200, 429], [x.status for x in statuses])
    r = statuses[-1]
    rl = ratelimit_parse(r.headers.get("ratelimit"))
    check("ratelimit: 429 headers", rl.get("limit") == 3 and rl.get("remaining") == 0 and 0 < rl.get("reset", 0) <= 2
          and re.match(r"^\d+$", r.headers.get("retry-after", "")) and int(r.headers["retry-after"]) >= 1, r.headers)
    check("ratelimit: 429 body", r.json["error"]["message"] == "API call rate limit exceeded."
          and isinstance(r.json["error"]["rate_reset"], (int, float)))
    check("ratelimit: remaining decreases", [ratelimit_parse(x.headers["ratelimit"])["remaining"] for x in statuses[:3]] == [2, 1, 0])
    r = c.get("/api/v1/contact/?_limit=1")
    check("ratelimit: other group unaffected", r.status == 200)
    r = c.get("/api/v1/lead/%s/?_fields=id" % ACME, key=KEY2)
    check("ratelimit: per key", r.status == 200)
    time.sleep(float(statuses[-1].headers["retry-after"]) + 0.05)
    r = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    check("ratelimit: window resets", r.status == 200, r.status)
    control(port, "POST", "/config", {"rate_limit": {"limit": 100, "window": 8, "separator": "; ", "integer_reset": True}})
    r = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    check("ratelimit: configurable separator", re.match(r"^limit=100; remaining=99; reset=\d+$", r.headers["ratelimit"]),
          r.headers["ratelimit"])
    control(port, "POST", "/config", {"rate_limit": {"limit": 1000, "groups": {"GET /contact/": {"limit": 1, "window": 5}}}})
    r1, r2 = c.get("/api/v1/contact/?_limit=1"), c.get("/api/v1/contact/?_limit=1")
    r3 = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    check("ratelimit: per-group override", r1.status == 200 and r2.status == 429 and r3.status == 200
          and ratelimit_parse(r3.headers["ratelimit"])["limit"] == 1000)
    control(port, "POST", "/reset")
    c.close()


def test_faults(port):
    c = Client(port, timeout=5)
    path = "/api/v1/lead/%s/" % ACME
    control(port, "POST", "/faults", {"method": "GET", "path": path, "status": 503, "body": "", "times": 2})
    r1, r2, r3 = c.get(path), c.get(path), c.get(path)
    check("fault: 503 twice then normal", [r1.status, r2.status, r3.status] == [503, 503, 200], [r1.status, r2.status, r3.status])
    check("fault: empty body", r1.body == b"")
    control(port, "POST", "/faults", [{"path_prefix": "/api/v1/contact/", "status": 429,
                                       "headers": {"Retry-After": "1", "RateLimit": "limit=1, remaining=0, reset=0.5"},
                                       "body": "{\"error\": \"slow down\"}"}])
    r = c.get("/api/v1/contact/?_limit=1")
    check("fault: scripted headers/body", r.status == 429 and r.headers.get("retry-after") == "1"
          and r.json == {"error": "slow down"}, (r.status, r.headers))
    control(port, "POST", "/faults", {"method": "PUT", "path": path, "status": 500})
    r = c.get(path)
    check("fault: method filter", r.status == 200)
    control(port, "DELETE", "/faults")
    check("fault: DELETE clears", control(port, "GET", "/faults") == [] and c.get(path).status == 200)
    control(port, "POST", "/faults", {"path": path, "delay": 0.3})
    t = time.time()
    r = c.get(path)
    check("fault: delay", r.status == 200 and time.time() - t >= 0.3)
    control(port, "POST", "/faults", {"path": path, "delay": 0.2, "status": 502})
    t = time.time()
    r = c.get(path)
    check("fault: delay + status", r.status == 502 and time.time() - t >= 0.2)
    control(port, "POST", "/faults", {"path": path, "drop": True})
    try:
        c.get(path)
        check("fault: drop", False, "no exception")
    except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
        check("fault: drop", True)
    r = c.get(path)
    check("fault: recovers after drop", r.status == 200)
    control(port, "POST", "/faults", {"path": path, "truncate": True})
    try:
        c.get(path)
        check("fault: truncate", False, "no exception")
    except http.client.IncompleteRead:
        check("fault: truncate", True)
    c.close()
    control(port, "POST", "/faults", {"path": path, "hang": True})
    hc = Client(port, timeout=1)
    t = time.time()
    try:
        hc.get(path)
        check("fault: hang", False, "answered")
    except (socket.timeout, TimeoutError):
        check("fault: hang", 0.9 <= time.time() - t < 3)
    hc.close()
    control(port, "POST", "/faults", {"path": path, "hang": True, "times": -1})
    hc = Client(port, timeout=5)
    holder = {}

    def hanging():
        t0 = time.time()
        try:
            hc.get(path)
            holder["r"] = "answered"
        except Exception as e:      # noqa: BLE001
            holder["r"] = type(e).__name__
        holder["t"] = time.time() - t0
    th = threading.Thread(target=hanging)
    th.start()
    time.sleep(0.4)
    control(port, "DELETE", "/faults")
    th.join(6)
    check("fault: DELETE releases hung requests", holder.get("t", 99) < 2 and holder.get("r") != "answered", holder)
    c = Client(port)
    r = c.get(path)
    check("fault: server fine after hang", r.status == 200)
    log = control(port, "GET", "/requests")
    check("fault: logged", any(e.get("fault", {}).get("drop") for e in log) and any(e.get("fault", {}).get("hang") for e in log))
    # latency + in_flight
    control(port, "POST", "/config", {"latency_ms": 300})
    t = time.time()
    c.get(path)
    check("config: latency", time.time() - t >= 0.3)
    control(port, "POST", "/requests/clear")
    ths = [threading.Thread(target=lambda: Client(port).get(path)) for _ in range(4)]
    [x.start() for x in ths]
    [x.join() for x in ths]
    log = control(port, "GET", "/requests")
    check("log: in_flight sees concurrency", max(e["in_flight"] for e in log) >= 3, [e["in_flight"] for e in log])
    check("log: distinct connections", len({e["connection"] for e in log}) == 4)
    control(port, "POST", "/reset")
    check("reset: clears config/faults", control(port, "GET", "/config")["latency_ms"] == 0
          and control(port, "GET", "/faults") == [])
    c.close()


def test_concurrency(port):
    """Mixed reads and writes from 8 keep-alive connections at once."""
    errors = []
    statuses = []
    lock = threading.Lock()

    def worker(i):
        c = Client(port)
        try:
            for n in range(60):
                k = (i + n) % 6
                if k == 0:
                    r = c.get("/api/v1/lead/?_skip=%d&_limit=50&_fields=id" % (n % 5 * 50))
                elif k == 1:
                    r = c.req("PUT", "/api/v1/lead/%s/" % ACME, body={"description": "writer %d/%d" % (i, n)})
                elif k == 2:
                    r = c.req("POST", "/api/v1/activity/note/", body={"lead_id": ACME, "note": "n%d" % n})
                elif k == 3:
                    r = c.get("/api/v1/lead/%s/" % ACME)
                elif k == 4:
                    r = c.get("/api/v1/opportunity/?date_created__gte=2024-05-01&_limit=20")
                else:
                    r = c.get("/api/v1/event/?_limit=10")
                with lock:
                    statuses.append(r.status)
        except Exception as e:      # noqa: BLE001
            errors.append(repr(e))
        c.close()
    control(port, "POST", "/config", {"latency_ms": 5})     # so that requests overlap
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    check("concurrency: no client errors", not errors, errors[:3])
    check("concurrency: all 200", len(statuses) == 480 and set(statuses) == {200}, sorted(set(statuses)))
    log = control(port, "GET", "/requests")
    check("concurrency: log complete", len(log) >= 480 and all(e["status"] == 200 for e in log),
          (len(log), sorted({e["status"] for e in log}, key=str)))
    check("concurrency: requests overlapped", max(e["in_flight"] for e in log) >= 2,
          max(e["in_flight"] for e in log))
    notes = Client(port).get("/api/v1/activity/note/?lead_id=%s&_limit=200" % ACME)
    check("concurrency: all creates stored",
          sum(1 for x in notes.json["data"] if re.match(r"^n\d+$", x["note"])) == 80, len(notes.json["data"]))
    control(port, "POST", "/reset")


def test_control_and_catalog(port):
    wk = control(port, "GET", "/wellknown")
    check("control: wellknown", wk["collections"]["lead"] == ACME and wk["extras"]["lead_special_slash"] == SLASH)
    ids = control(port, "GET", "/ids")
    objs = control(port, "GET", "/objects/custom_field/lead")
    check("control: objects", isinstance(objs, list) and {o["id"] for o in objs} == set(ids["custom_field/lead"]))
    leads = control(port, "GET", "/objects/lead")
    cf_ids = {o["id"] for o in objs}
    used = {k[len("custom."):] for lead in leads for k in lead if k.startswith("custom.")}
    shared = {o["id"] for o in control(port, "GET", "/objects/custom_field/shared")}
    check("seed: lead custom keys have definitions", used <= cf_ids | shared, used - cf_ids - shared)
    for kind in ("contact", "opportunity"):
        # the kind's own definitions, and the shared ones associated with it
        defs = {o["id"] for o in control(port, "GET", "/objects/custom_field/" + kind)} | {
            o["id"] for o in control(port, "GET", "/objects/custom_field/shared")
            if any(a.get("object_type") == kind for a in o.get("associations", []))}
        used = {k[len("custom."):] for o in control(port, "GET", "/objects/" + kind) for k in o if k.startswith("custom.")}
        check("seed: %s custom keys defined" % kind, used and used <= defs, used - defs)
    check("seed: custom field types", {o["type"] for o in objs} >= {"text", "number", "date", "datetime", "choices"})
    with open(os.path.join(HERE, "catalog.json"), encoding="utf-8") as f:
        catalog = json.load(f)
    c = Client(port)
    for e in catalog:
        name = e["name"]
        objs = control(port, "GET", "/objects/" + name)
        members = [name] + [x["name"] for x in catalog if x["name"].startswith(name + "/")]
        total = sum(len(control(port, "GET", "/objects/" + m)) for m in members)
        check("seed: %s has >= 3 objects" % name, total >= 3, total)
        if e["list"]:
            q = {}
            for group in e["required_filters"]:
                f = group[0]
                q[f] = next((o.get(f) for o in objs if o.get(f)), "x")
            if name == "task":
                q["_type"] = "all"
            r = c.get("/api/v1/%s/?%s" % (name, urllib.parse.urlencode(q)))
            check("catalog: list %s" % name, r.status == 200 and isinstance(r.json.get("data"), list)
                  and len(r.json["data"]) >= (1 if e["required_filters"] else 3), (r.status, r.body[:200]))
        if e["get"] and objs:
            key = "email" if e["id_param"] == "email_address" else "id"
            r = c.get("/api/v1/%s/%s/" % (name, enc(objs[0][key])))
            check("catalog: get %s" % name, r.status == 200 and r.json.get(key) == objs[0][key], (r.status, r.body[:200]))
        elif not e["get"] and objs:
            r = c.get("/api/v1/%s/%s/" % (name, enc(objs[0].get("id", "x"))))
            check("catalog: no get on %s -> 405" % name, r.status == 405)
    c.close()
    c = Client(port)
    control(port, "POST", "/config", {"max_url_length": 100, "ascii_json": True})
    r = c.get("/api/v1/task/?id__in=" + ",".join(["task_%022d" % i for i in range(10)]))
    check("config: max_url_length -> 414", r.status == 414)
    r = c.get("/api/v1/lead/%s/?_fields=description" % ACME)
    check("config: ascii_json", b"\\u00eb" in r.body and r.json["description"].startswith("Zoë"), r.body[:80])
    h = control(port, "GET", "/health")
    check("control: health", h["ok"] and h["collections"] == len(catalog) and h["in_flight"] == 0, h)
    last = control(port, "GET", "/requests")[-1]["seq"]
    c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    since = control(port, "GET", "/requests?since=%d" % last)
    check("control: requests?since", len(since) == 1 and since[0]["seq"] == last + 1)
    control(port, "POST", "/reset")
    c.close()
    # raw upsert of fixtures
    control(port, "POST", "/objects/lead", [{"id": "lead_fixture", "name": "Fixture", "custom.cf_lead_number": "not a number"}])
    r = Client(port).get("/api/v1/lead/lead_fixture/")
    check("control: upsert fixture", r.status == 200 and r.json["custom.cf_lead_number"] == "not a number")
    control(port, "POST", "/reset")


# ---------------------------------------------------------------------------
# POST /data/search/ (test/emulator_search.py)
SEARCH = "/api/v1/data/search/"


def ot(t):
    return {"type": "object_type", "object_type": t}


def q_and(*qs):
    return {"type": "and", "queries": list(qs)}


def q_or(*qs):
    return {"type": "or", "queries": list(qs)}


def rf(t, name):
    return {"type": "regular_field", "object_type": t, "field_name": name}


def fc(field, cond, negate=False):
    out = {"type": "field_condition", "field": field, "condition": cond}
    if negate:
        out["negate"] = True
    return out


def cfield(cid):
    return {"type": "custom_field", "custom_field_id": cid}


def utc(v):
    return {"type": "fixed_utc", "value": v}


def words(s):
    return re.findall(r"[^\W_]+", s.casefold())


def by_created(objs):
    return [o["id"] for o in sorted(objs, key=lambda o: (iso(o["date_created"]), o["id"]))]


def search(c, body, headers=None):
    return c.req("POST", SEARCH, body=body, headers=headers)


def walk(c, body, limit=200, headers=None):
    """(ids in order, pages) of a whole cursor walk; pages is a list of Resp."""
    body = dict(body, _limit=limit)
    ids, pages = [], []
    while True:
        r = search(c, body, headers)
        pages.append(r)
        if r.status != 200:
            return ids, pages
        ids.extend(x["id"] for x in r.json["data"])
        if not r.json["cursor"]:
            return ids, pages
        body = dict(body, cursor=r.json["cursor"])
        if len(pages) > 1000:
            return ids, pages


def found(c, query, headers=None):
    """Ids a query matches (whole walk), or None on an error."""
    ids, pages = walk(c, {"query": query}, headers=headers)
    return ids if pages[-1].status == 200 else None


def search_error(r):
    """The field-errors of a 400 in Close's shape, else None."""
    if r.status != 400 or not isinstance(r.json, dict) or set(r.json) != {"errors", "field-errors"} \
            or r.json["errors"] != []:
        return None
    return r.json["field-errors"]


def test_search_http(port):
    c = Client(port)
    body = {"query": ot("lead"), "_limit": 1}
    r = c.get(SEARCH)
    check("search: GET -> 405 Allow POST", r.status == 405 and r.headers.get("allow") == "POST, OPTIONS", r.headers)
    r = c.req("POST", SEARCH[:-1], body=body)
    check("search: no trailing slash -> 301", r.status == 301 and r.headers["location"].endswith(SEARCH))
    r = c.req("POST", SEARCH, body=body, key=None)
    check("search: no auth -> 401", r.status == 401 and r.json == {"error": UNAUTH})
    r = c.req("POST", SEARCH, body=body, ctype="text/plain")
    check("search: not JSON-labelled -> 415", r.status == 415, r.status)
    r = c.req("POST", SEARCH, body=b"{nope")
    check("search: invalid JSON -> 400", r.status == 400 and r.json["errors"] and r.json["field-errors"] == {}, r.body)
    r = c.req("POST", SEARCH, body=[1])
    check("search: array body -> 400", r.status == 400 and r.json["errors"], r.body)
    control(port, "POST", "/requests/clear")
    sent = {"query": q_and(ot("lead"), fc(rf("lead", "name"), {"type": "text", "mode": "phrase", "value": "Acme"})),
            "_fields": {"lead": ["id", "name"]}, "_limit": 5, "_skip": 100, "limit": None}
    r = search(c, sent)
    log = control(port, "GET", "/requests")
    check("search: 200 envelope", r.status == 200 and set(r.json) == {"data", "cursor"}, r.body[:300])
    check("search: logged with parsed body and group", len(log) == 1 and log[0]["body"] == sent
          and log[0]["group"] == "POST /data/search/" and log[0]["status"] == 200
          and log[0]["path"] == SEARCH, log)
    check("search: _skip and unknown keys ignored, listed in the log",
          sorted(log[0].get("ignored_params", [])) == ["_skip", "limit"], log[0].get("ignored_params"))
    check("search: log has page facts", log[0].get("search", {}).get("offset") == 0
          and log[0]["search"]["returned"] == len(r.json["data"]), log[0].get("search"))
    rl = ratelimit_parse(r.headers.get("ratelimit"))
    check("search: RateLimit header, default limit of every group", rl.get("limit") == 100000, r.headers)
    control(port, "POST", "/config", {"rate_limit": {"groups": {"POST /data/search/": {"limit": 2, "window": 5}}}})
    rs = [search(c, body) for _ in range(3)]
    check("search: own bucket, 429 past the limit", [x.status for x in rs] == [200, 200, 429], [x.status for x in rs])
    check("search: 429 Retry-After and RateLimit", int(rs[2].headers.get("retry-after", "0")) >= 1
          and ratelimit_parse(rs[2].headers["ratelimit"]).get("limit") == 2
          and rs[2].json["error"]["message"] == "API call rate limit exceeded.", rs[2].headers)
    r = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
    check("search: other groups unaffected by the search bucket", r.status == 200
          and ratelimit_parse(r.headers["ratelimit"])["limit"] == 100000)
    check("search: per key", search(c, body, headers=None).status == 429
          and Client(port, key=KEY2).req("POST", SEARCH, body=body).status == 200)
    control(port, "POST", "/reset")
    c.close()


def test_search_validation(port):
    c = Client(port)
    lead_q = ot("lead")

    def err(body, headers=None):
        return search_error(search(c, body, headers))

    e = err({"_limit": 10})
    check("search 400: query required", e == {"query": "This field is required."}, e)
    for bad, what in [({"type": "nope"}, "unknown node type"),
                      (ot("activity.status_change.lead"), "dotted activity name"),
                      (ot("task"), "unknown object type"),
                      ("lead", "node not an object"),
                      ({"type": "and"}, "and without queries"),
                      (q_or(), "empty or"),
                      ({"type": "match_all", "negate": "yes"}, "negate not boolean"),
                      (q_and(lead_q, fc({"type": "regular_field", "object_type": "lead"},
                                        {"type": "exists"})), "field ref without field_name"),
                      (q_and(lead_q, fc({"type": "plain_field", "name": "x"}, {"type": "exists"})), "unknown field ref type"),
                      (q_and(lead_q, fc(rf("lead", "no_such_field"), {"type": "exists"})), "unknown field"),
                      (q_and(lead_q, fc(cfield("cf_no_such"), {"type": "exists"})), "unknown custom field"),
                      (q_and(lead_q, fc(rf("lead", "name"), {"type": "contains", "value": "x"})), "unknown condition"),
                      (q_and(lead_q, fc(rf("lead", "name"), {"type": "text", "mode": "contains", "value": "x"})), "text mode"),
                      (q_and(lead_q, fc(rf("lead", "name"), {"type": "text", "mode": "phrase", "value": ""})), "empty text"),
                      (q_and(lead_q, fc(rf("lead", "date_created"), {"type": "moment_range", "on_or_after": {
                          "type": "fixed_local_date", "value": "2024-05-01"}})), "fixed_local_date without which"),
                      (q_and(lead_q, fc(rf("lead", "date_created"), {"type": "moment_range",
                                                                     "before": utc("yesterday")})), "bad fixed_utc"),
                      (q_and(lead_q, fc(rf("lead", "date_created"), {"type": "moment_range",
                                                                     "before": {"type": "soon"}})), "moment type"),
                      (q_and(lead_q, fc(rf("lead", "status_id"), {"type": "reference", "reference_type": "user",
                                                                  "object_ids": ["x"]})), "reference_type mismatch"),
                      (q_and(lead_q, fc(rf("lead", "name"), {"type": "reference", "reference_type": "lead",
                                                             "object_ids": ["x"]})), "reference on a text field"),
                      (q_and(lead_q, fc(rf("lead", "name"), {"type": "term", "values": []})), "empty term"),
                      (q_and(lead_q, fc(cfield("cf_lead_number"), {"type": "number_range", "gte": "5"})), "number bound"),
                      (q_and(lead_q, fc(rf("lead", "name"), {"type": "boolean", "value": 1})), "boolean value"),
                      ({"type": "has_related", "this_object_type": "lead", "related_object_type": "contact_email",
                        "related_query": {"type": "match_all"}}, "unrelated types"),
                      ({"type": "saved_search", "saved_search_id": "save_nope"}, "unknown saved search"),
                      ({"type": "id", "value": 5}, "id value")]:
        e = err({"query": bad})
        check("search 400: %s" % what, e is not None and list(e) == ["query"] and isinstance(e["query"], str), e)
    ok = search(c, {"query": q_and(ot("activity.lead_status_change"), {"type": "match_all"})})
    check("search: flat activity names accepted", ok.status == 200 and len(ok.json["data"]) == 10, ok.body[:200])
    ok = search(c, {"query": q_and(lead_q, fc(rf("lead", "date_created"), {"type": "moment_range", "on_or_after": {
        "type": "fixed_local_date", "value": "2024-05-01", "which": "start"}}))})
    check("search: fixed_local_date with which accepted", ok.status == 200, ok.body[:200])
    for limit, msg in [(0, "Input should be greater than or equal to 1"),
                       (201, "Input should be less than or equal to 200"), ("5", "Input should be a valid integer"),
                       (True, "Input should be a valid integer")]:
        e = err({"query": lead_q, "_limit": limit})
        check("search 400: _limit %r" % (limit,), e == {"_limit": msg}, e)
    r = search(c, {"query": lead_q, "_limit": 200})
    check("search: _limit 200 accepted", r.status == 200 and len(r.json["data"]) == 200)
    for field, what in [(rf("lead", "id"), "id"), (rf("lead", "status_id"), "reference field"),
                        (rf("lead", "created_by"), "user reference"), (rf("contact", "title"), "field of another object"),
                        (cfield("cf_lead_multi"), "multi-valued custom field"), (cfield("cf_lead_user"), "user custom field"),
                        (rf("lead", "addresses"), "list field")]:
        e = err({"query": lead_q, "sort": [{"direction": "asc", "field": field}]})
        check("search 400: unsortable %s" % what, e is not None and list(e) == ["sort"], e)
    e = err({"query": lead_q, "sort": [{"direction": "up", "field": rf("lead", "name")}]})
    check("search 400: sort direction", e is not None and list(e) == ["sort"], e)
    for field in (rf("lead", "display_name"), rf("lead", "date_updated"), cfield("cf_lead_date"), cfield("cf_lead_number")):
        r = search(c, {"query": lead_q, "sort": [{"direction": "desc", "field": field}]})
        check("search: sortable %s" % json.dumps(field), r.status == 200, r.body[:200])
    names = ["f%d" % i for i in range(101)]
    e = err({"query": lead_q, "_fields": {"lead": names}})
    check("search 400: _fields over 100 entries", e == {"_fields": "List is too long."}, e)
    r = search(c, {"query": lead_q, "_fields": {"lead": names[:100]}})
    check("search: 100 _fields entries accepted", r.status == 200)
    e = err({"query": lead_q, "_fields": ["id"]})
    check("search 400: _fields not keyed by type", e is not None and list(e) == ["_fields"], e)
    e = err({"query": lead_q, "_fields": {"leads": ["id"]}})
    check("search 400: _fields unknown type", e is not None and list(e) == ["_fields"], e)
    e = err({"query": lead_q, "results_limit": -1, "include_counts": "yes", "cursor": 5})
    check("search 400: several keys at once", e is not None and set(e) == {"results_limit", "include_counts", "cursor"}, e)
    r = search(c, {"query": lead_q}, headers={"x-tz-offset": "east"})
    check("search 400: bad x-tz-offset", r.status == 400 and r.json["errors"], r.body)
    # switches that make Close's refusals reproducible
    id_q = q_and(lead_q, q_or({"type": "id", "value": ACME}))
    check("search: id node accepted by default", search(c, {"query": id_q}).status == 200)
    r = control_status(port, "POST", "/config", {"search": {"reject_id_node": True}})
    check("search config: reject_id_node accepted", r == 200, r)
    e = err({"query": id_q})
    check("search 400: reject_id_node", e is not None and list(e) == ["query"] and "id" in e["query"], e)
    check("search: reject_id_node leaves other queries alone", search(c, {"query": lead_q}).status == 200)
    control(port, "POST", "/config", {"search": {"reject_id_node": False, "reject_node_types": ["has_related"],
                                                 "reject_condition_types": ["exists"],
                                                 "reject_fields": ["contact.lead_id", "custom.cf_lead_text"]}})
    check("search: id node accepted again", search(c, {"query": id_q}).status == 200)
    for q, what in [({"type": "has_related", "this_object_type": "lead", "related_object_type": "contact",
                      "related_query": {"type": "match_all"}}, "reject_node_types"),
                    (q_and(lead_q, fc(rf("lead", "name"), {"type": "exists"})), "reject_condition_types"),
                    (q_and(ot("contact"), fc(rf("contact", "lead_id"), {"type": "reference", "reference_type": "lead",
                                                                        "object_ids": [ACME]})), "reject_fields regular"),
                    (q_and(lead_q, fc(cfield("cf_lead_text"), {"type": "term", "values": ["x"]})), "reject_fields custom")]:
        e = err({"query": q})
        check("search 400: %s" % what, e is not None and list(e) == ["query"], e)
    control(port, "POST", "/config", {"search": {"strict_fields": False, "reject_node_types": [],
                                                 "reject_condition_types": [], "reject_fields": [],
                                                 "max_fields": 3, "max_limit": 50}})
    r = search(c, {"query": q_and(lead_q, fc(rf("lead", "no_such_field"), {"type": "exists"}, negate=True))})
    check("search: strict_fields false, unknown field is unset", r.status == 200 and len(r.json["data"]) == 100, r.body[:200])
    check("search: max_fields configurable", err({"query": lead_q, "_fields": {"lead": ["a", "b", "c", "d"]}})
          == {"_fields": "List is too long."})
    check("search: max_limit configurable", err({"query": lead_q, "_limit": 51})
          == {"_limit": "Input should be less than or equal to 50"})
    for bad in ({"cap_behavior": "error"}, {"cursor_mode": "live"}, {"walk_cap": "10"}, {"reject_id_node": 1},
                {"reject_fields": "contact.lead_id"}):
        r = control_status(port, "POST", "/config", {"search": bad})
        check("search config: refused %s" % json.dumps(bad), r == 400, r)
    control(port, "POST", "/reset")
    check("search config: reset restores defaults",
          control(port, "GET", "/config")["search"]["max_limit"] == 200
          and search(c, {"query": lead_q, "_limit": 51}).status == 200)
    c.close()


def control_status(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, "/_emulator" + path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_search_conditions(port):
    c = Client(port)
    wk = control(port, "GET", "/wellknown")
    me, other = wk["extras"]["user_for_key_1"], wk["extras"]["user_for_key_2"]
    leads = control(port, "GET", "/objects/lead")
    contacts = control(port, "GET", "/objects/contact")
    opps = control(port, "GET", "/objects/opportunity")
    L = lambda *qs: q_and(ot("lead"), *qs)   # noqa: E731

    def same(name, query, expected_objs, headers=None):
        got = found(c, query, headers)
        want = by_created(expected_objs)
        check("search eval: %s" % name, got == want and (want or name.endswith("(none)")),
              (len(got) if got is not None else None, len(want), (got or [])[:3], want[:3]))

    same("all leads in date_created order", ot("lead"), leads)
    same("contacts", ot("contact"), contacts)
    same("opportunities", ot("opportunity"), opps)
    same("custom objects", ot("custom_object"), control(port, "GET", "/objects/custom_object"))
    same("activity.call", ot("activity.call"), control(port, "GET", "/objects/activity/call"))
    same("empty and matches everything", q_and(ot("lead"), q_and()), leads)
    statuses = [s["id"] for s in control(port, "GET", "/objects/status/lead")]
    ref = lambda field, rt, ids: fc(rf("lead", field), {"type": "reference", "reference_type": rt, "object_ids": ids})  # noqa
    same("reference status.lead", L(ref("status_id", "status.lead", statuses[1:3])),
         [o for o in leads if o["status_id"] in statuses[1:3]])
    same("or of references", L(q_or(ref("status_id", "status.lead", [statuses[1]]),
                                     ref("status_id", "status.lead", [statuses[2]]))),
         [o for o in leads if o["status_id"] in statuses[1:3]])
    same("negated reference", L(ref("status_id", "status.lead", statuses[1:3]) | {"negate": True}),
         [o for o in leads if o["status_id"] not in statuses[1:3]])
    same("negated and", L(q_and(ref("status_id", "status.lead", [statuses[0]]),
                                ref("created_by", "user_or_group", [me])) | {"negate": True}),
         [o for o in leads if not (o["status_id"] == statuses[0] and o["created_by"] == me)])
    same("reference user_or_group with CURRENT_USER", L(ref("created_by", "user_or_group", ["CURRENT_USER"])),
         [o for o in leads if o["created_by"] == me])
    same("current_user condition", L(fc(rf("lead", "updated_by"), {"type": "current_user"})),
         [o for o in leads if o["updated_by"] == me])
    got = found(c, L(fc(rf("lead", "updated_by"), {"type": "current_user"})),)
    got2 = found(Client(port, key=KEY2), L(fc(rf("lead", "updated_by"), {"type": "current_user"})))
    check("search eval: current_user follows the key", got2 == by_created([o for o in leads if o["updated_by"] == other])
          and got != got2)
    same("contact lead_id reference", q_and(ot("contact"), fc(rf("contact", "lead_id"), {
        "type": "reference", "reference_type": "lead", "object_ids": [ACME]})),
        [o for o in contacts if o["lead_id"] == ACME])
    same("opportunity status_type term", q_and(ot("opportunity"), fc(rf("opportunity", "status_type"), {
        "type": "term", "values": ["won", "lost"]})), [o for o in opps if o["status_type"] in ("won", "lost")])
    same("opportunity status.opportunity", q_and(ot("opportunity"), fc(rf("opportunity", "status_id"), {
        "type": "reference", "reference_type": "status.opportunity", "object_ids": [opps[0]["status_id"]]})),
        [o for o in opps if o["status_id"] == opps[0]["status_id"]])
    same("term on multi-valued custom field", L(fc(cfield("cf_lead_multi"), {"type": "term", "values": ["Gizmos"]})),
         [o for o in leads if "Gizmos" in (o.get("custom.cf_lead_multi") or [])])
    same("term on choice field", L(fc(cfield("cf_lead_choice"), {"type": "term", "values": ["Gold", "Silver"]})),
         [o for o in leads if o.get("custom.cf_lead_choice") in ("Gold", "Silver")])
    same("user custom field reference", L(fc(cfield("cf_lead_user"), {
        "type": "reference", "reference_type": "user_or_group", "object_ids": [me]})),
        [o for o in leads if o.get("custom.cf_lead_user") == me])
    num = lambda o: o.get("custom.cf_lead_number")  # noqa: E731
    same("number_range gte/lte", L(fc(cfield("cf_lead_number"), {"type": "number_range", "gte": 1000, "lte": 20000})),
         [o for o in leads if isinstance(num(o), (int, float)) and 1000 <= num(o) <= 20000])
    same("number_range gt/lt", L(fc(cfield("cf_lead_number"), {"type": "number_range", "gt": 1250, "lt": 30000})),
         [o for o in leads if isinstance(num(o), (int, float)) and 1250 < num(o) < 30000])
    same("number_range equality", L(fc(cfield("cf_lead_number"), {"type": "number_range", "gte": 1250, "lte": 1250})),
         [o for o in leads if num(o) == 1250])
    same("computed emails_count", q_and(ot("contact"), fc(rf("contact", "emails_count"), {"type": "number_range", "gte": 2})),
         [o for o in contacts if len(o["emails"]) >= 2])
    same("computed addresses_count", L(fc(rf("lead", "addresses_count"), {"type": "number_range", "lt": 1})),
         [o for o in leads if not o["addresses"]])
    same("exists (null and empty string are unset)", L(fc(rf("lead", "description"), {"type": "exists"})),
         [o for o in leads if o.get("description") not in (None, "")])
    same("not exists", L(fc(rf("lead", "description"), {"type": "exists"}, negate=True)),
         [o for o in leads if o.get("description") in (None, "")])
    same("exists on a custom field", L(fc(cfield("cf_lead_date"), {"type": "exists"})),
         [o for o in leads if o.get("custom.cf_lead_date")])
    same("exists on an empty list is unset", q_and(ot("contact"), fc(rf("contact", "urls"), {"type": "exists"})),
         [o for o in contacts if o["urls"]])
    same("boolean", q_and(ot("opportunity"), fc(rf("opportunity", "is_stalled"), {"type": "boolean", "value": True})),
         [o for o in opps if o["is_stalled"] is True])
    # text modes
    name = lambda mode, v: L(fc(rf("lead", "name"), {"type": "text", "mode": mode, "value": v}))  # noqa: E731
    same("full_words", name("full_words", "ACME"), [o for o in leads if "acme" in words(o["name"])])
    same("full_words any order", name("full_words", "corporation acme"), [o for o in leads if o["id"] == ACME])
    same("full_words whole words only (none)", name("full_words", "Acm"), [])
    same("phrase in order", name("phrase", "acme corporation"), [o for o in leads if o["id"] == ACME])
    same("phrase out of order (none)", name("phrase", "corporation acme"), [])
    same("beginning_of_words", name("beginning_of_words", "acm corp"),
         [o for o in leads if any(w.startswith("acm") for w in words(o["name"]))
          and any(w.startswith("corp") for w in words(o["name"]))])
    same("exact_value case-insensitive", name("exact_value", "ACME CORPORATION"), [o for o in leads if o["id"] == ACME])
    same("exact_value whole value (none)", name("exact_value", "Acme"), [])
    same("text on a multi-valued field", L(fc(cfield("cf_lead_multi"), {"type": "text", "mode": "full_words",
                                                                        "value": "widgets"})),
         [o for o in leads if "Widgets" in (o.get("custom.cf_lead_multi") or [])])
    # moments
    acme = next(o for o in leads if o["id"] == ACME)
    created = lambda cond: L(fc(rf("lead", "date_created"), dict(cond, type="moment_range")))  # noqa: E731
    t = iso(acme["date_created"])
    same("on_or_after is inclusive (microseconds honoured)", created({"on_or_after": utc(acme["date_created"])}),
         [o for o in leads if iso(o["date_created"]) >= t])
    same("before is exclusive", created({"before": utc(acme["date_created"])}),
         [o for o in leads if iso(o["date_created"]) < t])
    same("Z form and naive form are UTC", created({"on_or_after": utc("2024-05-01T00:00:00Z"),
                                                   "before": utc("2024-05-15T00:00:00")}),
         [o for o in leads if datetime(2024, 5, 1, tzinfo=timezone.utc) <= iso(o["date_created"])
          < datetime(2024, 5, 15, tzinfo=timezone.utc)])
    day = lambda d, w: {"type": "fixed_local_date", "value": d, "which": w}  # noqa: E731
    for tz in (0, -5, 5.5):
        lo = datetime(2024, 5, 1, tzinfo=timezone.utc) - timedelta(hours=tz)
        hi = datetime(2024, 5, 11, tzinfo=timezone.utc) - timedelta(hours=tz)
        same("fixed_local_date with x-tz-offset %s" % tz,
             created({"on_or_after": day("2024-05-01", "start"), "before": day("2024-05-10", "end")}),
             [o for o in leads if lo <= iso(o["date_created"]) < hi], headers={"x-tz-offset": str(tz)})
    same("date custom field against local dates", L(fc(cfield("cf_lead_date"), {
        "type": "moment_range", "on_or_after": day("2024-05-01", "start"), "before": day("2024-05-01", "end")})),
        [o for o in leads if o.get("custom.cf_lead_date") == "2024-05-01"], headers={"x-tz-offset": "-7"})
    now = datetime.now(timezone.utc)
    fixtures = [{"id": "lead_search_recent_%d" % k, "name": "Recent %d" % k, "status_id": statuses[0],
                 "date_created": (now - timedelta(hours=h)).isoformat(), "date_updated": now.isoformat()}
                for k, h in enumerate([0.5, 30, 24 * 10, 24 * 400])]
    control(port, "POST", "/objects/lead", fixtures)
    ago = lambda unit, n, snap=None: {"type": "offset", "direction": "past", "moment": {"type": "now"},  # noqa
                                      "offset": {unit: n}, **({"which_day_end": snap} if snap else {})}
    # The seeded leads are older than these tests' "now" moments reach back
    # only by the machine's clock: keep to the fixtures.
    recent = lambda cond: q_and(created(cond), fc(rf("lead", "name"), {  # noqa: E731
        "type": "text", "mode": "beginning_of_words", "value": "recent"}))
    same("offset past days", recent({"on_or_after": ago("days", 2)}), fixtures[:2])
    same("offset past months and now", recent({"on_or_after": ago("months", 12), "before": {"type": "now"}}),
         fixtures[:3])
    same("offset past years", recent({"before": ago("years", 1), "on_or_after": ago("years", 2)}), fixtures[3:])
    today0 = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    same("offset with which_day_end start", recent({"on_or_after": ago("days", 1, "start")}),
         [f for f in fixtures if iso(f["date_created"]) >= today0 - timedelta(days=1)])
    same("predefined period today", recent({
        "on_or_after": {"type": "start_end_of_predefined_relative_period", "range": "today", "which": "start"},
        "before": {"type": "start_end_of_predefined_relative_period", "range": "today", "which": "end"}}),
        [f for f in fixtures if iso(f["date_created"]) >= today0])
    same("predefined period this_year", recent({
        "on_or_after": {"type": "start_end_of_predefined_relative_period", "range": "this_year", "which": "start"}}),
        [f for f in fixtures if iso(f["date_created"]).year == now.year])
    control(port, "POST", "/reset")
    # relations, saved searches, full text, ids, mixed types
    hr = lambda this, rel, q, **kw: dict({"type": "has_related", "this_object_type": this,  # noqa: E731
                                          "related_object_type": rel, "related_query": q}, **kw)
    ceo_leads = {o["lead_id"] for o in contacts if o.get("title") == "CEO"}
    same("has_related lead -> contact", L(hr("lead", "contact", fc(rf("contact", "title"), {
        "type": "text", "mode": "exact_value", "value": "ceo"}))), [o for o in leads if o["id"] in ceo_leads])
    email = next(e["email"] for o in contacts if o["lead_id"] == ACME for e in o["emails"])
    same("nested has_related lead -> contact -> contact_email", L(hr("lead", "contact", hr(
        "contact", "contact_email", fc(rf("contact_email", "email"), {"type": "text", "mode": "exact_value",
                                                                     "value": email.upper()})))),
        [o for o in leads if o["id"] == ACME])
    with_opp = {o["lead_id"] for o in opps}
    same("negated has_related (leads without opportunities)", L(hr("lead", "opportunity", {"type": "match_all"},
                                                                   negate=True)),
         [o for o in leads if o["id"] not in with_opp])
    st_of = {o["id"]: o["status_id"] for o in leads}
    same("has_related contact -> lead", q_and(ot("contact"), hr("contact", "lead", fc(rf("lead", "status_id"), {
        "type": "reference", "reference_type": "status.lead", "object_ids": [statuses[0]]}))),
        [o for o in contacts if st_of[o["lead_id"]] == statuses[0]])
    same("has_related lead -> address", L(hr("lead", "address", fc(rf("address", "city"), {
        "type": "text", "mode": "full_words", "value": "Berlin"}))),
        [o for o in leads if any(a.get("city") == "Berlin" for a in o["addresses"])])
    saved = control(port, "GET", "/objects/saved_search")
    lead_saved = next(s for s in saved if s["type"] == "lead")
    same("saved_search (stored s_query)", {"type": "saved_search", "saved_search_id": lead_saved["id"]}, leads)
    control(port, "POST", "/objects/saved_search", [
        {"id": "save_search_gold", "type": "lead", "name": "Gold",
         "s_query": L(fc(cfield("cf_lead_choice"), {"type": "term", "values": ["Gold"]}))},
        {"id": "save_search_plain", "type": "contact", "name": "No s_query"},
        {"id": "save_search_loop", "type": "lead", "s_query": {"type": "saved_search", "saved_search_id": "save_search_loop"}}])
    gold = [o for o in leads if o.get("custom.cf_lead_choice") == "Gold"]
    same("saved_search inside and", q_and({"type": "saved_search", "saved_search_id": "save_search_gold"},
                                          fc(rf("lead", "status_id"), {"type": "reference", "reference_type": "status.lead",
                                                                       "object_ids": [statuses[0]]})),
         [o for o in gold if o["status_id"] == statuses[0]])
    same("saved_search without s_query is its type", {"type": "saved_search", "saved_search_id": "save_search_plain"},
         contacts)
    e = search_error(search(c, {"query": {"type": "saved_search", "saved_search_id": "save_search_loop"}}))
    check("search 400: saved search referring to itself", e is not None and "itself" in e.get("query", ""), e)
    same("text node over a lead's contacts", L({"type": "text", "mode": "full_words", "value": email}),
         [o for o in leads if o["id"] == ACME])
    same("text node over the lead's own fields", L({"type": "text", "mode": "phrase", "value": "fixed test lead"}),
         [o for o in leads if "fixed test lead" in (o.get("description") or "")])
    same("id node", L({"type": "id", "value": ACME}), [o for o in leads if o["id"] == ACME])
    some = [o["id"] for o in leads[::2]][:120] + ["lead_does_not_exist"]
    same("or of 121 id nodes", L(q_or(*[{"type": "id", "value": i} for i in some])),
         [o for o in leads if o["id"] in some])
    same("id node negated", L({"type": "id", "value": ACME, "negate": True}), [o for o in leads if o["id"] != ACME])
    cobjs = control(port, "GET", "/objects/custom_object")
    same("custom_object_type_id term", q_and(ot("custom_object"), fc(rf("custom_object", "custom_object_type_id"), {
        "type": "term", "values": [cobjs[0]["custom_object_type_id"]]})),
        [o for o in cobjs if o["custom_object_type_id"] == cobjs[0]["custom_object_type_id"]])
    r = search(c, {"query": {"type": "match_all"}, "include_counts": True, "results_limit": 0})
    acts = sum(len(control(port, "GET", "/objects/" + coll)) for coll in (
        "activity/call", "activity/custom", "activity/email", "activity/emailthread", "activity/sms", "activity/meeting",
        "activity/note", "activity/status_change/lead", "activity/status_change/opportunity", "activity/task_completed"))
    check("search eval: match_all without object_type spans every searchable type",
          r.status == 200 and r.json["count"]["total"] == len(leads) + len(contacts) + len(opps) + len(cobjs) + acts,
          r.body[:200])
    r = search(c, {"query": q_or(ot("lead"), ot("contact")), "_limit": 200, "_fields": {"contact": ["lead_id"]}})
    types = {x["__object_type"] for x in r.json["data"]}
    check("search eval: mixed types carry __object_type and their own _fields",
          types == {"lead", "contact"} and all(("lead_id" in x) == (x["__object_type"] == "contact")
                                               for x in r.json["data"]), types)
    fixture = {"id": "lead_search_upserted", "name": "Upserted Zyzzyva", "date_created": "2020-01-01T00:00:00+00:00"}
    control(port, "POST", "/objects/lead", [fixture])
    got = found(c, L({"type": "text", "mode": "full_words", "value": "zyzzyva"}))
    check("search eval: sees objects upserted through the control API", got == ["lead_search_upserted"], got)
    control(port, "POST", "/reset")
    c.close()


def test_search_sort_fields(port):
    c = Client(port)
    contacts = control(port, "GET", "/objects/contact")
    leads = control(port, "GET", "/objects/lead")

    def order(sort, t="contact"):
        ids, pages = walk(c, {"query": ot(t), "sort": sort})
        return ids if pages[-1].status == 200 else pages[-1].body

    def title_key(desc):
        def key(o):
            v = o.get("title")
            if v is None:
                return (1, "", o["id"])
            return (0, tuple(-ord(ch) for ch in v) if desc else v, o["id"])
        return key
    for desc in (False, True):
        got = order([{"direction": "desc" if desc else "asc", "field": rf("contact", "title")}])
        want = [o["id"] for o in sorted(contacts, key=title_key(desc))]
        check("search sort: title %s, missing last, ties by id" % ("desc" if desc else "asc"), got == want,
              (got[:3], want[:3]) if isinstance(got, list) else got)
    got = order([{"direction": "asc", "field": rf("contact", "title")},
                 {"direction": "desc", "field": rf("contact", "date_created")}])
    want = [o["id"] for o in sorted(sorted(contacts, key=lambda o: o["id"]),
                                    key=lambda o: iso(o["date_created"]), reverse=True)]
    want = [o["id"] for o in sorted([next(x for x in contacts if x["id"] == i) for i in want],
                                    key=lambda o: (o.get("title") is None, o.get("title") or ""))]
    check("search sort: two keys", got == want, (got[:3], want[:3]) if isinstance(got, list) else got)
    num = lambda o: o.get("custom.cf_lead_number")  # noqa: E731
    got = order([{"direction": "desc", "field": cfield("cf_lead_number")}], "lead")
    with_num = sorted([o for o in leads if num(o) is not None], key=lambda o: (-num(o), o["id"]))
    without = sorted([o for o in leads if num(o) is None], key=lambda o: o["id"])
    check("search sort: custom number desc", got == [o["id"] for o in with_num + without],
          got[:3] if isinstance(got, list) else got)
    check("search sort: default is date_created asc", order(None, "lead") == by_created(leads))
    # _fields
    r = search(c, {"query": q_and(ot("lead"), {"type": "id", "value": ACME})})
    check("search fields: ids only without _fields", r.json["data"] == [{"__object_type": "lead", "id": ACME}], r.body)
    acme = next(o for o in leads if o["id"] == ACME)
    r = search(c, {"query": q_and(ot("lead"), {"type": "id", "value": ACME}),
                   "_fields": {"lead": ["name", "custom.cf_lead_text", "no_such_field", "date_created"],
                               "contact": ["title"]}})
    item = r.json["data"][0]
    check("search fields: requested fields, unknown ignored, flat custom key",
          item == {"__object_type": "lead", "id": ACME, "name": acme["name"], "custom.cf_lead_text": "Website",
                   "date_created": acme["date_created"]} and list(item)[:2] == ["__object_type", "id"], item)
    r = search(c, {"query": q_and(ot("lead"), {"type": "id", "value": ACME}), "_fields": {"lead": ["id", "custom"]}})
    want = {k: v for k, v in acme.items() if k.startswith("custom.")}
    check("search fields: bare custom -> every custom field, flat",
          r.json["data"][0] == dict({"__object_type": "lead", "id": ACME}, **want), r.json["data"][0])
    control(port, "POST", "/config", {"search": {"custom_selector": "nested"}})
    r = search(c, {"query": q_and(ot("lead"), {"type": "id", "value": ACME}),
                   "_fields": {"lead": ["custom", "custom.cf_lead_number"]}})
    check("search fields: custom_selector nested", r.json["data"][0] == {
        "__object_type": "lead", "id": ACME, "custom.cf_lead_number": 1250,
        "custom": {k[len("custom."):]: v for k, v in want.items()}}, r.json["data"][0])
    control(port, "POST", "/reset")
    r = search(c, {"query": q_and(ot("lead"), {"type": "id", "value": ACME}), "_fields": {"lead": ["contacts"]}})
    check("search fields: embedded contacts", len(r.json["data"][0].get("contacts", [])) == 3, r.body[:200])
    r = search(c, {"query": ot("activity.note"), "_limit": 1, "_fields": {"activity.note": ["note"]}})
    check("search fields: activity item", r.json["data"][0]["__object_type"] == "activity.note"
          and "note" in r.json["data"][0], r.body[:200])
    c.close()


def test_search_paging(port):
    c = Client(port)
    leads = control(port, "GET", "/objects/lead")
    all_ids = by_created(leads)
    lead_q = {"query": ot("lead"), "include_counts": True}
    ids, pages = walk(c, lead_q, limit=60)
    check("search paging: cursor walk complete, in order, no duplicates", ids == all_ids, len(ids))
    check("search paging: page sizes and cursor null on the last page",
          [len(p.json["data"]) for p in pages] == [60, 60, 60, 60, 10]
          and all(p.json["cursor"] for p in pages[:-1]) and pages[-1].json["cursor"] is None)
    check("search paging: counts on every page", all(p.json["count"] == {"limited": 250, "total": 250} for p in pages))
    ids, pages = walk(c, dict(lead_q, results_limit=130), limit=60)
    check("search paging: results_limit caps the walk", ids == all_ids[:130]
          and [len(p.json["data"]) for p in pages] == [60, 60, 10]
          and pages[0].json["count"] == {"limited": 130, "total": 250}, [len(p.json["data"]) for p in pages])
    r = search(c, {"query": ot("lead"), "include_counts": True, "results_limit": 0})
    check("search paging: count only", r.status == 200 and r.json == {"data": [], "cursor": None,
                                                                        "count": {"limited": 0, "total": 250}}, r.body)
    r1 = search(c, {"query": ot("lead"), "_limit": 10})
    r2 = search(c, {"query": ot("lead"), "_limit": 10, "_skip": 50})
    check("search paging: _skip ignored", r1.json["data"] == r2.json["data"])
    check("search paging: default _limit 100", len(search(c, {"query": ot("lead")}).json["data"]) == 100)
    cur = r1.json["cursor"]
    e = search_error(search(c, {"query": ot("contact"), "_limit": 10, "cursor": cur}))
    check("search paging: cursor of another query -> Invalid cursor", e == {"cursor": "Invalid cursor"}, e)
    e = search_error(search(c, {"query": ot("lead"), "_limit": 10, "cursor": cur[:-2] + "xx"}))
    check("search paging: tampered cursor -> Invalid cursor", e == {"cursor": "Invalid cursor"}, e)
    e = search_error(search(c, {"query": ot("lead"), "_limit": 10, "cursor": "garbage!"}))
    check("search paging: garbage cursor -> Invalid cursor", e == {"cursor": "Invalid cursor"}, e)
    r = search(c, {"query": ot("lead"), "_limit": 10, "cursor": cur, "_fields": {"lead": ["name"]}})
    check("search paging: a cursor page may change _limit/_fields", r.status == 200
          and [x["id"] for x in r.json["data"]] == all_ids[10:20] and "name" in r.json["data"][0])
    r = search(c, {"query": ot("lead"), "_limit": 10, "cursor": cur})
    check("search paging: a cursor can be replayed within its TTL",
          [x["id"] for x in r.json["data"]] == all_ids[10:20])
    control(port, "POST", "/config", {"search": {"cursor_ttl": 0.5}})
    r = search(c, {"query": ot("lead"), "_limit": 10})
    time.sleep(0.7)
    r = search(c, {"query": ot("lead"), "_limit": 10, "cursor": r.json["cursor"]})
    check("search paging: expired cursor body", r.status == 400 and r.json == {
        "errors": [], "field-errors": {"cursor": "Expired cursor"}}, r.body)
    r = search(c, {"query": ot("lead"), "_limit": 10})
    control(port, "POST", "/config", {"search": {"cursor_ttl": 0}})
    e = search_error(search(c, {"query": ot("lead"), "_limit": 10, "cursor": r.json["cursor"]}))
    check("search paging: lowering cursor_ttl expires live cursors", e == {"cursor": "Expired cursor"}, e)
    control(port, "POST", "/config", {"search": {"cursor_ttl": 30}})
    r = search(c, {"query": ot("lead"), "_limit": 10})
    control(port, "POST", "/reset")
    e = search_error(search(c, {"query": ot("lead"), "_limit": 10, "cursor": r.json["cursor"]}))
    check("search paging: reset expires cursors", e == {"cursor": "Expired cursor"}, e)
    # walk cap
    control(port, "POST", "/config", {"search": {"walk_cap": 100}})
    ids, pages = walk(c, lead_q, limit=40)
    e = search_error(pages[-1])
    check("search cap: pages stop at the cap", ids == all_ids[:100]
          and [len(p.json["data"]) for p in pages[:-1]] == [40, 40, 20], [p.status for p in pages])
    check("search cap: the cursor past the cap -> 400 on cursor",
          e == {"cursor": "Cursor limit exceeded: a search can page through at most 10000 objects."}, e)
    control(port, "POST", "/config", {"search": {"cap_behaviour": "null_cursor", "cap_message": "x"}})
    ids, pages = walk(c, lead_q, limit=40)
    check("search cap: null_cursor ends the walk at the cap", ids == all_ids[:100]
          and pages[-1].status == 200 and pages[-1].json["cursor"] is None and len(pages) == 3)
    ids, pages = walk(c, dict(lead_q, results_limit=100), limit=40)
    check("search cap: a walk ending exactly at the cap has no cursor", len(ids) == 100
          and pages[-1].status == 200 and pages[-1].json["cursor"] is None)
    control(port, "POST", "/config", {"search": {"cap_behaviour": "error"}})
    check("search cap: keyset queries are fresh walks", found(c, q_and(ot("lead"), fc(rf("lead", "date_created"), {
        "type": "moment_range", "on_or_after": utc(leads[0]["date_created"])}))) is not None)
    control(port, "POST", "/reset")
    # max_page_rows: short pages that are not the last
    control(port, "POST", "/config", {"search": {"max_page_rows": 30}})
    ids, pages = walk(c, lead_q, limit=100)
    check("search paging: max_page_rows gives short non-final pages", ids == all_ids
          and len(pages) == 9 and all(len(p.json["data"]) == 30 for p in pages[:-1]) and pages[-2].json["cursor"])
    control(port, "POST", "/reset")
    # snapshot (default) and rerun
    for mode in ("snapshot", "rerun"):
        control(port, "POST", "/config", {"search": {"cursor_mode": mode}})
        r1 = search(c, {"query": ot("lead"), "_limit": 100})
        doomed = all_ids[150]
        control(port, "POST", "/objects/lead", [{"id": "lead_search_oldest", "name": "Oldest",
                                                  "date_created": "2000-01-01T00:00:00+00:00"}])
        d = c.req("DELETE", "/api/v1/lead/%s/" % doomed)
        r2 = search(c, {"query": ot("lead"), "_limit": 100, "cursor": r1.json["cursor"]})
        got = [x["id"] for x in r2.json["data"]]
        if mode == "snapshot":
            check("search cursor_mode snapshot: later pages come from the first request's result",
                  d.status == 200 and got == all_ids[100:200] and doomed in got, got[:2])
        else:
            now_ids = ["lead_search_oldest"] + [i for i in all_ids if i != doomed]
            check("search cursor_mode rerun: later pages re-run the query at the offset",
                  got == now_ids[100:200] and got[0] == all_ids[99] and doomed not in got, got[:2])
        control(port, "POST", "/reset")
    control(port, "POST", "/config", {"search": {"max_walks": 1}})
    ra = search(c, {"query": ot("lead"), "_limit": 10})
    rb = search(c, {"query": ot("contact"), "_limit": 10})
    e = search_error(search(c, {"query": ot("lead"), "_limit": 10, "cursor": ra.json["cursor"]}))
    check("search paging: max_walks evicts the oldest snapshot", e == {"cursor": "Expired cursor"}
          and search(c, {"query": ot("contact"), "_limit": 10, "cursor": rb.json["cursor"]}).status == 200, e)
    control(port, "POST", "/reset")
    # a plateau: more than a page of objects within one second
    base = "2024-07-01T10:00:00"
    plateau = [{"id": "lead_plateau_%03d" % k, "name": "Plateau %d" % k,
                "date_created": "%s.%06d+00:00" % (base, (k * 7919) % 1000000)} for k in range(450)]
    control(port, "POST", "/objects/lead", plateau)
    q = q_and(ot("lead"), fc(rf("lead", "date_created"), {"type": "moment_range", "on_or_after": utc(base + "+00:00"),
                                                          "before": utc("2024-07-01T10:00:01+00:00")}))
    ids, pages = walk(c, {"query": q, "sort": [{"direction": "asc", "field": rf("lead", "date_created")}]})
    check("search paging: a 450-object plateau walks completely by cursor",
          ids == by_created(plateau) and len(pages) == 3 and len(set(ids)) == 450, len(ids))
    log = control(port, "GET", "/requests")
    offsets = [e["search"]["offset"] for e in log[-3:]]
    check("search log: offsets of the cursor pages", offsets == [0, 200, 400], offsets)
    control(port, "POST", "/reset")
    c.close()


def test_search_generate(port):
    c = Client(port)
    r = control(port, "POST", "/generate", {"count": 1000, "contacts_per_lead": 2, "opportunities_per_lead": 1,
                                            "seed": 7, "start": "2023-01-01T00:00:00Z", "step_seconds": 60})
    check("generate: summary", r.get("ok") and r["leads"] == 1000 and r["contacts"] == 2000
          and r["opportunities"] == 1000, r)
    leads = control(port, "GET", "/objects/lead")
    contacts = control(port, "GET", "/objects/contact")
    gen = [o for o in leads if o["date_created"].startswith("2023-01")]
    check("generate: leads stored", len(leads) == 1250 and len(gen) == 1000, len(leads))
    lead_ids = {o["id"] for o in leads}
    check("generate: children point at existing leads", all(o["lead_id"] in lead_ids for o in contacts)
          and len(contacts) == 335 + 2000)
    secs = sorted(iso(o["date_created"]).replace(microsecond=0) for o in gen)
    check("generate: one lead per step_seconds", secs[1] - secs[0] == timedelta(seconds=60)
          and secs[-1] - secs[0] == timedelta(seconds=60 * 999))
    check("generate: realistic fields", all(o.get("status_id") and o.get("name") and o.get("display_name") == o["name"]
                                            and o.get("html_url") for o in gen))
    emails = [e["email"] for o in contacts if o["lead_id"] in {g["id"] for g in gen} for e in o["emails"]]
    check("generate: e-mail addresses unique", len(emails) >= 2000 and len(emails) == len(set(emails)), len(emails))
    again = control(port, "POST", "/generate", {"count": 1000, "contacts_per_lead": 2, "opportunities_per_lead": 1,
                                                "seed": 7, "start": "2023-01-01T00:00:00Z", "step_seconds": 60})
    check("generate: same body, same ids (replaces)", again["first_id"] == r["first_id"]
          and len(control(port, "GET", "/ids")["lead"]) == 1250)
    r2 = search(c, {"query": ot("lead"), "include_counts": True, "results_limit": 0})
    check("generate: search sees generated leads", r2.json["count"]["total"] == 1250, r2.body)
    control(port, "POST", "/reset")
    r3 = control(port, "POST", "/generate", {"count": 1000, "contacts_per_lead": 2, "opportunities_per_lead": 1,
                                             "seed": 7, "start": "2023-01-01T00:00:00Z", "step_seconds": 60})
    check("generate: deterministic after reset", r3["first_id"] == r["first_id"] and r3["last_id"] == r["last_id"])
    control(port, "POST", "/reset")
    r = control(port, "POST", "/generate", {"count": 300, "step_seconds": 0, "start": "2024-07-01T10:00:00+00:00",
                                            "contacts_per_lead": 0})
    gen = [o for o in control(port, "GET", "/objects/lead") if o["date_created"].startswith("2024-07-01T10:00:00.")]
    check("generate: step_seconds 0 makes a plateau", len(gen) == 300 and r["contacts"] == 0, r)
    for bad in ({"count": -1}, {"collection": "contact", "count": 1}, {"count": 1, "colour": "red"}, {},
                {"count": 1, "start": "soon"}):
        check("generate: refused %s" % json.dumps(bad), control_status(port, "POST", "/generate", bad) == 400)
    control(port, "POST", "/reset")
    c.close()


def bench_search(port):
    """Search throughput at 10,000 leads: 200-row pages with 10 fields, by
    cursor and by keyset (fresh query per page, as the FDW walks)."""
    control(port, "POST", "/generate", {"count": 9750})
    c = Client(port)
    fields = {"lead": ["id", "name", "display_name", "status_id", "status_label", "description", "url",
                       "date_created", "date_updated", "custom"]}
    sort = [{"direction": "asc", "field": rf("lead", "date_created")}]
    t0 = time.time()
    ids, pages = walk(c, {"query": ot("lead"), "_fields": fields, "sort": sort})
    dt = time.time() - t0
    print("bench(search): cursor walk, %d pages of 200 leads: %.0f pages/s" % (len(pages), len(pages) / dt))
    t0 = time.time()
    anchor, n, seen = None, 0, set()
    while True:
        qs = [ot("lead")] + ([fc(rf("lead", "date_created"), {"type": "moment_range", "on_or_after": utc(anchor)})]
                             if anchor else [])
        r = search(c, {"query": q_and(*qs), "_fields": fields, "sort": sort, "_limit": 200})
        n += 1
        seen.update(x["id"] for x in r.json["data"])
        if len(r.json["data"]) < 200:
            break
        anchor = r.json["data"][-1]["date_created"][:19] + "+00:00"
    dt = time.time() - t0
    print("bench(search): keyset walk, %d pages of 200 leads: %.0f pages/s" % (n, n / dt))
    check("bench(search): both walks complete", len(ids) == 10000 and len(seen) == 10000, (len(ids), len(seen)))
    control(port, "POST", "/reset")
    c.close()


def test_tls():
    if not shutil.which("openssl"):
        print("skip TLS test: no openssl binary")
        return
    tmp = tempfile.mkdtemp(prefix="emu_tls_")
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True)
    if p.returncode != 0:
        print("skip TLS test: openssl failed")
        return
    proc, port, etmp = start_emulator(["--tls-cert", cert, "--tls-key", key, "--keys", "k_one,k_two"])
    try:
        c = Client(port, key="k_one", tls=True)
        r1 = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
        r2 = c.get("/api/v1/lead/%s/?_fields=id" % ACME)
        check("tls: GET over https keep-alive", r1.status == 200 and r2.status == 200)
        r = c.get("/api/v1/lead/%s/" % ACME, key=KEY)
        check("tls: --keys replaces defaults", r.status == 401)
        log = control_tls(port, "/requests")
        check("tls: one connection", len({e["connection"] for e in log}) == 1)
        c.close()
        control_tls_post(port, "/faults", {"path": "/api/v1/lead/%s/" % ACME, "hang": True})
        hc = Client(port, key="k_one", tls=True, timeout=1)
        try:
            hc.get("/api/v1/lead/%s/" % ACME)
            check("tls: hang", False)
        except (socket.timeout, TimeoutError):
            check("tls: hang", True)
        hc.close()
    finally:
        rc = stop_emulator(proc, etmp)
        shutil.rmtree(tmp, ignore_errors=True)
        check("tls: SIGTERM exit 0", rc == 0, rc)


def _tls_conn(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)


def control_tls(port, path):
    c = _tls_conn(port)
    c.request("GET", "/_emulator" + path)
    return json.loads(c.getresponse().read())


def control_tls_post(port, path, body):
    c = _tls_conn(port)
    c.request("POST", "/_emulator" + path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return json.loads(c.getresponse().read())


def bench(port, seconds=3.0):
    """Keep-alive GET-by-id throughput.  With curl (C client, so the client
    is not the bottleneck): one connection, then 8 in parallel.  Always also
    with Python http.client threads (GIL-bound client, lower numbers)."""
    targets = [("/api/v1/contact/cont_0000000000000000000001/", "contact (1.3 KB)"),
               ("/api/v1/lead/%s/" % ACME, "lead with embedded children (8 KB)"),
               ("/api/v1/lead/?_limit=100", "lead list page of 100 (900 KB)")]
    control(port, "POST", "/config", {"log_limit": 1000})
    curl = shutil.which("curl")
    for path, label in targets:
        n = 300 if "list" in label else 5000
        if curl:
            cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
            for _ in range(n):
                cfg.write('url = "http://127.0.0.1:%d%s"\noutput = "/dev/null"\n' % (port, path))
            cfg.close()
            for extra, what in (([], "1 connection"), (["--parallel", "--parallel-max", "8"], "8 parallel connections")):
                t0 = time.time()
                subprocess.run([curl, "-s", "-u", KEY + ":", "-K", cfg.name] + extra,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                dt = time.time() - t0
                print("bench(curl): GET %s, %s: %.0f req/s" % (label, what, n / dt))
            os.unlink(cfg.name)
        c = Client(port)
        t0 = time.time()
        for _ in range(n // 2):
            r = c.get(path)
            assert r.status == 200
        dt = time.time() - t0
        c.close()
        print("bench(python http.client): GET %s, 1 connection: %.0f req/s" % (label, (n // 2) / dt))
    log = control(port, "GET", "/requests")
    check("bench: all 200", all(e["status"] == 200 for e in log))
    control(port, "POST", "/reset")


def main():
    proc, port, tmp = start_emulator()
    try:
        if "--bench" in sys.argv:
            bench(port)
            bench_search(port)
        test_auth(port)
        test_get(port)
        test_encoding(port)
        test_routing(port)
        test_raw_http(port)
        test_keepalive(port)
        test_paging(port)
        test_filters(port)
        test_writes(port)
        test_ratelimit(port)
        test_faults(port)
        test_concurrency(port)
        test_control_and_catalog(port)
        test_search_http(port)
        test_search_validation(port)
        test_search_conditions(port)
        test_search_sort_fields(port)
        test_search_paging(port)
        test_search_generate(port)
    finally:
        rc = stop_emulator(proc)
        with open(os.path.join(tmp, "stderr"), errors="replace") as f:
            err = f.read()
        shutil.rmtree(tmp, ignore_errors=True)
        check("SIGTERM: clean exit 0", rc == 0, rc)
        check("no tracebacks on stderr", "Traceback" not in err, err[-2000:])
    test_tls()
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
