"""The conformance table (tests/conformance/cases.json) through the Python enforcement points:
the API itself, a FastAPI app with the `identity` dependency, and a real uvicorn server
with the ASGI middleware. Same status, challenge, reason and user as the service, for every
case; differences only where the table marks them for the host, with the reason.

The Rust test harness (tests/it/python.rs) materializes the table, tokens built just before,
into the JSON file named by UIDGATE_CONFORMANCE; run the suite through `cargo test`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.parse

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi import Depends

from uid_gate import Gate
from uid_gate._uid_gate import reason_for_description
from uid_gate.asgi import UidGateMiddleware
from uid_gate.fastapi import GateAuth, install


def _table(host: str) -> dict:
    path = os.environ.get("UIDGATE_CONFORMANCE")
    if not path:
        pytest.fail("UIDGATE_CONFORMANCE is not set: run the Python tests through `cargo test` (tests/it/python.rs)")
    with open(path) as f:
        return json.load(f)[host]


def _challenge_error(www: str | None) -> str | None:
    if not www or 'error="' not in www:
        return None
    return www.split('error="', 1)[1].split('"', 1)[0]


def _gate(config: list) -> Gate:
    return Gate.from_env(dict(config), refresh=False)


def _mismatch(case: dict, status: int, error, reason, user) -> str | None:
    e = case["expect"]
    ok = status == e["status"] and error == e["error"] and (reason is None or reason == e["reason"]) and user == e["user"]
    if ok:
        return None
    return f"{case['id']}: got {status} {error} {reason} user {user}, want {e['status']} {e['error']} {e['reason']} user {e['user']}"


def _report(host: str, table: dict, failures: list[str], differ: int) -> None:
    skipped = table["skipped"]
    total = len(table["cases"]) + len(skipped)
    reasons = sorted({s["why"] for s in skipped})
    print(f"conformance [{host}]: {total} cases, {len(skipped)} skipped ({'; '.join(reasons)}), {differ} answered differently by this host by design (reasons in the table), {len(table['cases'])} run")
    assert total >= 150, total
    assert not failures, f"conformance [{host}]: {len(failures)} cases failed:\n" + "\n".join(failures)


def _groups(table: dict):
    groups: dict = {}
    for case in table["cases"]:
        groups.setdefault(json.dumps(case["config"]), []).append(case)
    return groups.values()


def test_the_table_through_the_python_api():
    table = _table("python")
    failures = []
    for cases in _groups(table):
        gate = _gate(cases[0]["config"])
        for case in cases:
            auth = [v for k, v in case["headers"] if k.lower() == "authorization"]
            d = gate.check(case["path"], auth, method=case["method"])
            headers = dict(d.headers)
            if not d.allowed and headers.get("cache-control") != "no-store":
                failures.append(f"{case['id']}: deny without no-store")
            failures += filter(None, [_mismatch(case, d.status, _challenge_error(headers.get("www-authenticate")), d.reason, d.user_id)])
    _report("python", table, failures, sum(1 for c in table["cases"] if c["host_difference"]))


def _scope(case: dict) -> dict:
    raw = case["path"].encode("latin-1", "replace") if case["path"].isascii() else case["path"].encode()
    raw_path, _, query = raw.partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": case["method"],
        "scheme": "http",
        "path": urllib.parse.unquote(raw_path.decode("latin-1")) or "/",
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in case["headers"]] + [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }


async def _call(app, scope: dict) -> tuple[int, dict, bytes]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers: dict = {}
    for k, v in start["headers"]:
        headers.setdefault(k.decode().lower(), []).append(v.decode())
    return start["status"], headers, body


def _fastapi_app(gate: Gate) -> FastAPI:
    app = FastAPI()
    install(app)
    auth = GateAuth(gate)

    @app.api_route("/{rest:path}", methods=["GET", "POST", "DELETE", "OPTIONS", "PUT", "PATCH"])
    async def anything(request: Request, uid=Depends(auth.identity)):
        return {"user": uid}

    return app


def test_the_table_through_a_fastapi_dependency():
    """The app gets each request as an ASGI server hands it over (raw path bytes intact):
    an HTTP client library would normalise the tricky targets before they left the test."""
    table = _table("fastapi")
    failures = []
    for cases in _groups(table):
        app = _fastapi_app(_gate(cases[0]["config"]))
        for case in cases:
            status, headers, body = asyncio.run(_call(app, _scope(case)))
            www = headers.get("www-authenticate", [])
            data = json.loads(body) if body else {}
            if status == 200:
                seen = (status, None, None, data.get("user"))
            else:
                description = data.get("error_description") if isinstance(data, dict) else None
                if description and (len(www) > 1 or headers.get("cache-control") != ["no-store"]):
                    failures.append(f"{case['id']}: deny headers {headers}")
                reason = (reason_for_description(description) or "unknown") if description else None
                seen = (status, _challenge_error(www[0] if www else None), reason, None)
            failures += filter(None, [_mismatch(case, *seen)])
    _report("fastapi", table, failures, sum(1 for c in table["cases"] if c["host_difference"]))


async def _echo(scope, receive, send):
    """The app behind the middleware: tells what identity reached it."""
    seen = [v.decode() for k, v in scope["headers"] if k.replace(b"_", b"-") == b"x-user-id"]
    body = json.dumps({"uid": scope.get("state", {}).get("uid"), "x-user-id": seen}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Server:
    """A real uvicorn on 127.0.0.1, port 0, in a thread."""

    def __init__(self, app, root_path: str = "") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off", root_path=root_path))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(5)


def _raw_request(port: int, method: str, path: str, headers: list) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request with the target and headers on the wire exactly as given."""
    lines = [f"{method} {path} HTTP/1.1", "host: test", "connection: close"] + [f"{k}: {v}" for k, v in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs: dict = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return status, hdrs, body


def test_the_table_through_uvicorn_and_the_asgi_middleware():
    table = _table("asgi")
    failures = []
    for cases in _groups(table):
        app = UidGateMiddleware(_echo, gate=_gate(cases[0]["config"]))
        with _Server(app) as server:
            for case in cases:
                status, headers, body = _raw_request(server.port, case["method"], case["path"], case["headers"])
                www = headers.get("www-authenticate", [])
                try:
                    data = json.loads(body) if body else {}
                except ValueError:
                    data = {}
                if status == 200:
                    # Exactly the verified identity reached the app, and nothing else like it.
                    user = data.get("uid")
                    want_headers = [user] if user is not None else []
                    if data.get("x-user-id") != want_headers:
                        failures.append(f"{case['id']}: the app saw x-user-id {data.get('x-user-id')}, uid {user}")
                    seen = (status, None, None, user)
                else:
                    description = data.get("error_description")
                    reason = reason_for_description(description) if description else None
                    if description and (len(www) > 1 or headers.get("cache-control") != ["no-store"]):
                        failures.append(f"{case['id']}: deny headers {headers}")
                    seen = (status, _challenge_error(www[0] if www else None), reason if description else None, None)
                failures += filter(None, [_mismatch(case, *seen)])
    _report("asgi", table, failures, sum(1 for c in table["cases"] if c["host_difference"]))
