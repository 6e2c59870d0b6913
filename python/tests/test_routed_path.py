"""The path the app routes (issue: a prefix turned the ownership check off): root_path from the
server, FastAPI's root_path, mounts and an encoded prefix; dependencies on routes with a
{user_id} parameter; WebSocket routes; non-ASCII user ids; the refresh thread and the GIL;
careless configurations."""

from __future__ import annotations

import faulthandler
import logging
import os
import threading
import time

import pytest
from conftest import SECRET
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_api import bearer, token
from test_conformance import _raw_request, _Server

from uid_gate import ConfigError, Gate
from uid_gate.asgi import UidGateMiddleware
from uid_gate.fastapi import GateAuth, install


def _tasks_app(gate: Gate) -> FastAPI:
    """A tasks app whose routes use each dependency."""
    app = FastAPI()
    install(app)
    auth = GateAuth(gate)

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str, owner: str = Depends(auth.owner)):
        return {"owner": owner}

    @app.get("/api/{user_id}/notes")
    async def notes(user_id: str, who=Depends(auth.identity)):
        return {"user": who}

    @app.get("/teams/{user_id}/files")
    async def files(user_id: str, who: str = Depends(auth.user)):
        return {"user": who}

    return app


def _status(port: int, path: str, uid: str) -> int:
    return _raw_request(port, "GET", path, [("authorization", bearer(uid))])[0]


def test_a_server_root_path_does_not_turn_the_ownership_check_off():
    # uvicorn --root-path /v1 puts /v1 in front of path and raw_path; the router strips it.
    gate = Gate(secret=SECRET)
    with _Server(_tasks_app(gate), "/v1") as dependencies, _Server(UidGateMiddleware(_tasks_app(Gate(secret=SECRET, auth_only_paths="/teams")), gate=gate), "/v1") as middleware:
        for server in (dependencies, middleware):
            assert _status(server.port, "/api/alice/tasks", "alice") == 200
            assert _status(server.port, "/api/bob/tasks", "alice") == 403
            assert _status(server.port, "/api/bob/notes", "alice") == 403
        assert _status(dependencies.port, "/teams/bob/files", "alice") == 403


@pytest.mark.parametrize("kind", ["mount", "fastapi_root_path"])
def test_mounts_and_fastapi_root_path_judge_the_routed_path(kind):
    gate = Gate(secret=SECRET)
    if kind == "mount":
        app = FastAPI()
        app.mount("/v1", _tasks_app(gate))
    else:
        app = _tasks_app(gate)
        app.root_path = "/v1"
    client = TestClient(app)
    a = {"authorization": bearer("alice")}
    assert client.get("/v1/api/alice/tasks", headers=a).status_code == 200
    for path in ["/v1/api/bob/tasks", "/v1/api/bob/notes", "/v1/teams/bob/files"]:
        r = client.get(path, headers=a)
        assert r.status_code == 403, (path, r.text)
    # An encoded prefix decodes to /v1 for the router, but the raw bytes do not start with
    # it: which raw bytes are routed cannot be told, so the request is refused.
    r = client.get("/%761/api/bob/tasks", headers=a)
    assert r.status_code == 400, r.text


def test_a_route_with_a_user_id_parameter_is_never_token_only():
    # /teams/{user_id} is under no template: the dependency must not let any token through.
    client = TestClient(_tasks_app(Gate(secret=SECRET, auth_only_paths="/teams")))
    a = {"authorization": bearer("alice")}
    r = client.get("/teams/bob/files", headers=a)
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")
    r = client.get("/teams/alice/files", headers=a)
    assert r.status_code == 403, "an authenticated-only prefix names no owner"


def test_dependencies_on_websocket_routes():
    app = FastAPI()
    auth = GateAuth(Gate(secret=SECRET, path_templates="/api/{user_id},/ws/{user_id}"))

    @app.websocket("/ws/{user_id}")
    async def ws(websocket: WebSocket, user_id: str, owner: str = Depends(auth.owner)):
        await websocket.accept()
        await websocket.send_json({"owner": owner})
        await websocket.close()

    client = TestClient(app)
    with client.websocket_connect("/ws/alice", headers={"authorization": bearer("alice")}) as ws_conn:
        assert ws_conn.receive_json() == {"owner": "alice"}
    for headers, description in [({"authorization": bearer("alice")}, "token user does not own this path"), ({}, "no authorization header")]:
        with pytest.raises(WebSocketDisconnect) as e:
            with client.websocket_connect("/ws/bob", headers=headers):
                pass
        assert (e.value.code, e.value.reason) == (1008, description)


def test_the_middleware_answers_a_denied_websocket_as_it_answers_http():
    from starlette.testclient import WebSocketDenialResponse

    async def app(scope, receive, send):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    client = TestClient(UidGateMiddleware(app, gate=Gate(secret=SECRET)))
    with pytest.raises(WebSocketDenialResponse) as e:
        with client.websocket_connect("/api/bob/ws", headers={"authorization": bearer("alice")}):
            pass
    r = e.value
    assert (r.status_code, r.headers["cache-control"], r.json()["error"]) == (403, "no-store", "insufficient_scope")
    with client.websocket_connect("/api/alice/ws", headers={"authorization": bearer("alice")}):
        pass


def _echo_identity(scope):
    async def app(scope, receive, send):
        seen = [v for k, v in scope["headers"] if k == b"x-user-id"]
        body = repr((scope["state"]["uid"], seen)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def test_non_ascii_user_ids_travel_as_utf8_in_both_modes():
    app = _echo_identity(None)
    jose = "jos\u00e9"
    with _Server(UidGateMiddleware(app, gate=Gate(secret=SECRET)), "") as verify:
        status, _, body = _raw_request(verify.port, "GET", "/api/jos%C3%A9/tasks", [("authorization", "Bearer " + token({"uid": jose, "exp": int(time.time()) + 60}))])
        assert (status, body.decode()) == (200, repr((jose, [jose.encode("utf-8")])))
    with _Server(UidGateMiddleware(app, gate=Gate(secret=SECRET), trust_gateway=True), "") as trusted:
        # The gateway sends the id's UTF-8 bytes (_raw_request writes headers as UTF-8).
        assert _raw_request(trusted.port, "GET", "/api/jos%C3%A9/tasks", [("x-user-id", jose)])[0] == 200
        assert _raw_request(trusted.port, "GET", "/api/jos%C3%83%C2%A9/tasks", [("x-user-id", jose)])[0] == 403


def test_trust_gateway_warns_when_it_starts(caplog):
    with caplog.at_level(logging.WARNING, logger="uid_gate"):
        UidGateMiddleware(_echo_identity(None), gate=Gate(secret=SECRET), trust_gateway=True)
    assert any("trust_gateway=True" in r.getMessage() and "name any user" in r.getMessage() for r in caplog.records)


def test_bytes_and_blank_secrets():
    key = b"k" * 32
    gate = Gate(secret=key)
    d = gate.check("/api/alice/x", "Bearer " + token({"uid": "alice", "exp": int(time.time()) + 60}, key=key.decode()))
    assert (d.allowed, d.reason) == (True, "owner")
    for bad in [b"\xff" * 32, " " * 40]:
        with pytest.raises(ConfigError) as e:
            Gate(secret=bad)
        assert e.value.var == "BETTER_AUTH_SECRET"


def test_a_hung_secret_file_blocks_only_the_refresh_thread(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    gate = Gate(secret_file=path, refresh=False)
    os.remove(path)
    os.mkfifo(path)  # opening it for reading blocks until a writer comes
    # If the reload held the GIL, nothing in Python could run again: end the process (and so
    # fail the suite) with a traceback instead of hanging it.
    faulthandler.dump_traceback_later(30, exit=True)
    reload = threading.Thread(target=gate.refresh_now, daemon=True)
    reload.start()
    time.sleep(0.2)
    assert reload.is_alive(), "the reload should be waiting on the FIFO"
    # Meanwhile Python goes on: requests are judged with the secrets in force.
    started = time.monotonic()
    for _ in range(100):
        assert gate.check("/api/alice/x", bearer("alice")).allowed
    assert time.monotonic() - started < 5
    with open(path, "w") as writer:  # let the reload finish
        writer.write(SECRET + "\n")
    reload.join(5)
    faulthandler.cancel_dump_traceback_later()
    assert not reload.is_alive()


def test_the_owner_is_the_routes_user_id_even_where_the_template_reads_another_segment():
    app = FastAPI()
    install(app)
    auth = GateAuth(Gate(secret=SECRET))  # /api/{user_id}: the first segment after /api

    @app.get("/api/{org}/{user_id}/files")
    async def files(org: str, user_id: str, owner: str = Depends(auth.owner)):
        return {"owner": owner, "user_id": user_id}

    client = TestClient(app)
    a = {"authorization": bearer("alice")}
    r = client.get("/api/alice/bob/files", headers=a)
    assert r.status_code == 403, r.text
    assert client.get("/api/alice/alice/files", headers=a).json() == {"owner": "alice", "user_id": "alice"}
