"""A page on another origin calling a FastAPI app that uses uid-gate: Starlette's
CORSMiddleware, added last (the outermost), answers the page's preflights before the gate or
any dependency runs, and every answer the page gets, the gate's 401, 403 and 400 included,
carries access-control-allow-origin, so the page can tell "sign in again" from "not yours".
Both forms of the gate: the dependencies and the ASGI middleware, as docs/fastapi.md shows
them."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.testclient import TestClient

from uid_gate import Gate
from uid_gate.asgi import UidGateMiddleware
from uid_gate.fastapi import GateAuth, install
from uid_gate.testing import auth_header

from conftest import SECRET

PAGE = "https://app.example.com"
FOREIGN = "https://evil.example"


def cors(app: FastAPI) -> None:
    """The docs' CORS set-up, added after the gate so that it is the outermost middleware."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[PAGE],
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["authorization", "content-type"],
        expose_headers=["www-authenticate"],
        allow_credentials=False,
        max_age=600,
    )


def with_dependencies(gate: Gate, runs: list) -> FastAPI:
    app = FastAPI()
    install(app)
    auth = GateAuth(gate)

    @app.get("/api/{user_id}/tasks")
    @app.post("/api/{user_id}/tasks")
    async def tasks(user_id: str, owner: str = Depends(auth.owner)) -> dict:
        runs.append(owner)
        return {"user": owner}

    cors(app)
    return app


def with_middleware(gate: Gate, runs: list) -> FastAPI:
    app = FastAPI()

    @app.get("/api/{user_id}/tasks")
    @app.post("/api/{user_id}/tasks")
    async def tasks(user_id: str) -> dict:
        runs.append(user_id)
        return {"user": user_id}

    app.add_middleware(UidGateMiddleware, gate=gate)
    cors(app)
    return app


@pytest.fixture(params=[with_dependencies, with_middleware], ids=["dependencies", "middleware"])
def page(request):
    gate = Gate(secret=SECRET)
    runs: list = []
    return TestClient(request.param(gate, runs)), gate, runs, request.param.__name__


def test_a_preflight_never_meets_the_gate(page):
    client, gate, runs, _ = page
    r = client.options(
        "/api/alice/tasks",
        headers={"origin": PAGE, "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == PAGE
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert r.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in r.headers
    assert "www-authenticate" not in r.headers
    assert runs == []
    # Starlette refuses a foreign origin's preflight itself (400), granting nothing.
    r = client.options("/api/alice/tasks", headers={"origin": FOREIGN, "access-control-request-method": "GET"})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers


def test_every_answer_to_the_page_carries_the_grant(page):
    client, gate, runs, form = page
    alice = auth_header(gate, "alice")
    bob = auth_header(gate, "bob")
    for path, headers, status in [
        ("/api/alice/tasks", {}, 401),
        ("/api/alice/tasks", {"authorization": alice["Authorization"] + "x"}, 401),
        ("/api/alice/tasks", bob, 403),
        ("/api/alice;x/tasks", alice, 400),
        ("/api/alice/tasks", alice, 200),
    ]:
        r = client.get(path, headers={**headers, "origin": PAGE})
        assert r.status_code == status, (path, r.status_code, r.text)
        assert r.headers.get("access-control-allow-origin") == PAGE, (path, r.headers)
        assert "www-authenticate" in r.headers.get("access-control-expose-headers", "").lower(), (path, r.headers)
        if status != 200:
            assert r.json()["error"] and r.headers["cache-control"] == "no-store"
        # The same answer to a foreign origin, with no grant on it.
        r = client.get(path, headers={**headers, "origin": FOREIGN})
        assert r.status_code == status
        assert "access-control-allow-origin" not in r.headers
    # A bare OPTIONS is no preflight: the middleware judges it (401); with dependencies,
    # FastAPI answers 405 (no OPTIONS route) before any dependency runs. Neither lets it in.
    r = client.options("/api/alice/tasks", headers={"origin": PAGE})
    assert r.status_code == (405 if form == "with_dependencies" else 401), r.text
    assert runs == ["alice", "alice"]
