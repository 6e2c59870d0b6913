#!/usr/bin/env python3
"""Sample upstream for the uid-gate demo and end-to-end tests.

Answers every request with 200 and a JSON echo of what it received (method, path, headers),
so you can see the `x-user-id` uid-gate set. It also remembers every request it served:
`GET /__echo/seen` sent straight to this server (without x-user-id, so not through Envoy)
lists them, which lets tests prove that a denied request never reached the upstream.

Usage: echo_upstream.py [--host 127.0.0.1] [--port 8081]   (port 0 picks a free port)
Prints `listening on HOST:PORT` once ready.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN = []
LOCK = threading.Lock()


def _utf8(value):
    """http.server decodes header bytes as latin-1; uid-gate sends x-user-id as UTF-8, so read
    the bytes back as UTF-8 where they are (an app must do the same)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, payload, status=200):
        body = json.dumps(payload, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        # The log is for tests talking to this server directly; through Envoy every checked
        # request carries x-user-id, and users must not read each other's requests.
        if self.path == "/__echo/seen" and "x-user-id" not in self.headers:
            with LOCK:
                return self._reply(list(SEEN))
        headers = {}
        for key, value in self.headers.items():
            headers.setdefault(key.lower(), []).append(_utf8(value))
        record = {"method": self.command, "path": self.path, "headers": headers}
        with LOCK:
            SEEN.append(record)
        self._reply(record)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def log_message(self, fmt, *args):
        sys.stderr.write("echo-upstream: " + (fmt % args) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Echo)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
