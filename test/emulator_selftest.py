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
from datetime import datetime, timezone

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
