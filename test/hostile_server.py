#!/usr/bin/env python3
"""A deliberately hostile HTTP server for the closecrm_fdw hardening tests.

Python 3 standard library only.  It answers API requests with exactly the
bytes it is told to (invalid UTF-8, huge or compressed bodies, resets in the
middle of a body, answers that never come), and it records every request
it receives, so that a test can also prove that *no* request arrived (the
target of a redirect that must not be followed).

    python3 test/hostile_server.py --port 0 --port-file /tmp/h.port

Control API (JSON, under /_hostile/; not recorded):

  POST /_hostile/script    queue one response rule, a list of them, or
                           {"rules": [...]}; each
                           API request takes the first rule left (FIFO);
                           with none left it gets 200 {"hostile": true}
  GET  /_hostile/requests  the API requests received since the last reset:
                           [{"method", "path", "authorization"}] where
                           authorization is "basic" / "other" / "none" (the
                           header value itself is never stored)
  POST /_hostile/reset     forget the queued rules and the request log, and
                           release hung requests

A rule is an object with these optional fields:

  status      HTTP status (default 200)
  headers     {"Name": "value", ...} sent as given (values may hold any
              text; Content-Length is added unless "content_length" says)
  headers_hex {"Name": "hex bytes", ...}: header values as raw bytes
  body        text, sent as UTF-8
  body_hex    bytes, as hex (for invalid UTF-8, NUL bytes, ...)
  repeat      send the body this many times over (a large body costs
              nothing to script); the total is streamed in chunks
  gzip        compress the (repeated) body and say Content-Encoding: gzip
  content_length  the Content-Length to claim (default: the real length;
              null: send none and close the connection after the body)
  cut_after   send only this many bytes of the body, then reset the
              connection (TCP RST)
  hang        read the request and never answer (until the client goes
              away, a reset, or HANG_CAP seconds)
  delay       seconds to wait before answering (at most HANG_CAP)
  times       how many requests the rule answers (default 1)

Every wait is capped at HANG_CAP seconds so that a regression in the client
cannot hang a test run.
"""

import argparse
import gzip
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL = "/_hostile"
HANG_CAP = 20.0
CHUNK = 1 << 20


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.log = []
        self.generation = 0

    def take_rule(self):
        with self.lock:
            while self.rules:
                rule = self.rules[0]
                times = rule.get("times", 1)
                if times == 0:
                    self.rules.pop(0)
                    continue
                if times > 0:
                    rule["times"] = times - 1
                    if rule["times"] == 0:
                        self.rules.pop(0)
                return rule
            return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile/1"

    def log_message(self, fmt, *args):     # quiet
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def reply_json(self, obj, status=200):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        st = self.server.state
        body = self.read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == CONTROL or path.startswith(CONTROL + "/"):
            self.control(st, path[len(CONTROL):], body)
            return
        auth = self.headers.get("Authorization")
        with st.lock:
            st.log.append({"method": self.command, "path": self.path,
                           "authorization": "none" if auth is None else
                           "basic" if auth.lower().startswith("basic ") else "other"})
        rule = st.take_rule() or {"body": '{"hostile": true}'}
        self.answer(st, rule)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    def control(self, st, sub, body):
        if sub == "/script" and self.command == "POST":
            rules = json.loads(body or b"[]")
            if isinstance(rules, dict):
                rules = rules["rules"] if "rules" in rules else [rules]
            with st.lock:
                st.rules.extend(rules)
            self.reply_json({"ok": True, "rules": len(st.rules)})
        elif sub == "/requests" and self.command == "GET":
            with st.lock:
                self.reply_json(list(st.log))
        elif sub == "/reset" and self.command == "POST":
            with st.lock:
                st.rules.clear()
                st.log.clear()
                st.generation += 1
            self.reply_json({"ok": True})
        else:
            self.reply_json({"error": "unknown control request"}, 404)

    def wait(self, st, seconds):
        """Wait up to seconds (capped); return early if the client leaves or
        the state is reset."""
        gen = st.generation
        deadline = time.monotonic() + min(float(seconds), HANG_CAP)
        while time.monotonic() < deadline and st.generation == gen:
            r, _, _ = select.select([self.connection], [], [], 0.05)
            if r:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return
                time.sleep(0.05)

    def reset_connection(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass

    def answer(self, st, rule):
        if rule.get("hang"):
            self.wait(st, HANG_CAP)
            self.reset_connection()
            return
        if rule.get("delay"):
            self.wait(st, rule["delay"])
        if "body_hex" in rule:
            unit = bytes.fromhex(rule["body_hex"])
        else:
            unit = rule.get("body", "").encode("utf-8")
        repeat = int(rule.get("repeat", 1))
        headers = dict(rule.get("headers") or {})
        if rule.get("gzip"):
            unit = gzip.compress(unit * repeat)
            repeat = 1
            headers["Content-Encoding"] = "gzip"
        total = len(unit) * repeat
        status = int(rule.get("status", 200))
        # a raw status line and headers, so that any header text goes out
        head = "HTTP/1.1 %d %s\r\n" % (status, self.responses.get(status, ("X",))[0])
        lines = [head.encode("latin-1")]
        for name, value in headers.items():
            lines.append(name.encode("utf-8") + b": " + value.encode("utf-8") + b"\r\n")
        for name, value in (rule.get("headers_hex") or {}).items():
            lines.append(name.encode("utf-8") + b": " + bytes.fromhex(value) + b"\r\n")
        length = rule.get("content_length", total)
        if length is not None:
            lines.append(b"Content-Length: %d\r\n" % int(length))
        else:
            self.close_connection = True
            lines.append(b"Connection: close\r\n")
        lines.append(b"\r\n")
        cut = rule.get("cut_after")
        try:
            self.wfile.write(b"".join(lines))
            sent = 0
            limit = total if cut is None else min(int(cut), total)
            while sent < limit:
                piece = (unit * max(1, CHUNK // max(1, len(unit))))[:limit - sent]
                self.wfile.write(piece)
                sent += len(piece)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return
        if cut is not None:
            self.reset_connection()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    args = ap.parse_args()

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State()
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
