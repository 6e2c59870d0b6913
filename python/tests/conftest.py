"""Shared fixtures: inputs the Rust harness (tests/it/python.rs) prepares for the Python tests."""

from __future__ import annotations

import http.server
import json
import os
import threading

import pytest


@pytest.fixture(scope="session")
def better_auth() -> dict:
    """Tokens minted by the real better-auth package, with the secret they were signed with."""
    path = os.environ.get("UIDGATE_BETTER_AUTH")
    if not path:
        pytest.fail("UIDGATE_BETTER_AUTH is not set: run the Python tests through `cargo test` (tests/it/python.rs)")
    with open(path) as f:
        return json.load(f)


SECRET = "0123456789abcdef0123456789abcdef"


class JwksServer:
    """A local JWKS endpoint whose document a test sets (``body``) and whose fetches it counts."""

    def __init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.hits += 1
                body = server.body
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.body = b""
        self.hits = 0
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/api/auth/jwks"

    def serve(self, document: dict) -> None:
        self.body = json.dumps(document).encode()

    def close(self) -> None:
        self._http.shutdown()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()
