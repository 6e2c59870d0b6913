"""The Python API: configuration errors, bad input, failing closed, the FastAPI dependencies'
OpenAPI scheme and modes, and the ASGI middleware's trusted-gateway mode."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import pytest
from conftest import SECRET
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from uid_gate import ConfigError, Gate
from uid_gate._uid_gate import _panic_for_tests
from uid_gate.asgi import UidGateMiddleware
from uid_gate.fastapi import GateAuth, install


def token(claims: dict, key: str = SECRET) -> str:
    """HS256 by hand (hmac + base64): an oracle independent of the code under test."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    msg = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), msg.encode(), hashlib.sha256).digest()
    return msg + "." + b64(sig)


def bearer(uid: str) -> str:
    return "Bearer " + token({"uid": uid, "exp": int(time.time()) + 600})


def test_bad_configuration_fails_at_start_naming_the_variable():
    with pytest.raises(ConfigError) as e:
        Gate(secret="too-short")
    assert e.value.var == "BETTER_AUTH_SECRET"
    assert "too-short" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        Gate(secret=SECRET, path_templates=["/api/{uid}"])
    assert e.value.var == "UIDGATE_PATH_TEMPLATES"
    assert isinstance(e.value, ValueError)
    with pytest.raises(ConfigError) as e:
        Gate.from_env({"UIDGATE_LEEWAY_SECS": "30"})
    assert str(e.value) == "BETTER_AUTH_SECRET is required"
    with pytest.raises(ConfigError) as e:
        Gate.from_env({"BETTER_AUTH_SECRET": SECRET, "UIDGATE_SECRET_RELOAD_SECS": "0"})
    assert e.value.var == "UIDGATE_SECRET_RELOAD_SECS"
    # The interval is the core's setting, as for the service and the Envoy module: the
    # keyword and the variable are one declaration, with one bound and one message.
    with pytest.raises(ConfigError) as kw:
        Gate(secret=SECRET, secret_reload_secs=3601)
    assert kw.value.var == "UIDGATE_SECRET_RELOAD_SECS"
    assert str(kw.value) == 'UIDGATE_SECRET_RELOAD_SECS: expected a whole number from 1 to 3600, got "3601"'


def test_the_secret_file_is_read_at_the_configured_interval(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    gate = Gate.from_env({"BETTER_AUTH_SECRET_FILE": str(path), "UIDGATE_SECRET_RELOAD_SECS": "7"}, refresh=False)
    assert gate._refresher is not None and gate._inner.secret_reload_secs == 7
    assert Gate(secret_file=path, refresh=False)._inner.secret_reload_secs == 5


def test_keyword_arguments_and_the_environment_agree():
    env = {"BETTER_AUTH_SECRET": SECRET, "UIDGATE_PUBLIC_PATHS": "/api/auth,/healthz", "UIDGATE_PATH_TEMPLATES": "/api/{user_id},/v2/{user_id}/x"}
    a = Gate.from_env(env)
    b = Gate(secret=SECRET, public_paths=["/api/auth", "/healthz"], path_templates=["/api/{user_id}", "/v2/{user_id}/x"])
    assert a.public_paths == b.public_paths == ["/api/auth", "/healthz"]
    assert a.path_templates == b.path_templates
    assert SECRET not in repr(a) and "redacted" in repr(a)
    for gate in (a, b):
        d = gate.check("/v2/alice/x", bearer("alice"))
        assert (d.allowed, d.status, d.reason, d.user_id) == (True, 200, "owner", "alice")


def test_bad_input_gets_a_deny_never_an_exception():
    gate = Gate(secret=SECRET)
    for auth in [b"\xff\xfe", "Bearer " + "a" * 100_000, "Bearer a.b.c", ["Bearer x", "Bearer y"], "", b"", None, ()]:
        for path in ["/api/alice", "", "\x00", "/api/%zz", "/api/" + "é" * 1000]:
            d = gate.check(path, auth)
            assert not d.allowed and d.status in (400, 401), (path, auth, d)
    with pytest.raises(TypeError):
        gate.check("/x", 42)  # a programming error, not request input


def test_a_rust_panic_fails_closed():
    d = _panic_for_tests(Gate(secret=SECRET)._inner)
    assert (d.allowed, d.status, d.reason) == (False, 503, "internal")
    assert dict(d.headers)["cache-control"] == "no-store"


def _fastapi() -> TestClient:
    app = FastAPI()
    install(app)
    auth = GateAuth(Gate(secret=SECRET, public_paths=["/api/auth"]))

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str, owner: str = Depends(auth.owner)):
        return {"owner": owner}

    @app.get("/me")
    async def me(user: str = Depends(auth.user)):
        return {"user": user}

    @app.get("/api/auth/whoami")
    async def whoami(user: str = Depends(auth.user)):
        return {"user": user}

    return TestClient(app)


def test_the_dependencies_are_an_openapi_bearer_scheme():
    schema = _fastapi().get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes == {"BetterAuthJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A Better Auth JWT (HS256 or EdDSA), checked by uid-gate."}}
    assert schema["paths"]["/me"]["get"]["security"] == [{"BetterAuthJWT": []}]


def test_owner_and_user_dependencies():
    client = _fastapi()
    a = {"authorization": bearer("alice")}
    assert client.get("/api/alice/tasks", headers=a).json() == {"owner": "alice"}
    r = client.get("/api/bob/tasks", headers=a)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert r.headers["cache-control"] == "no-store"
    # `owner` on a route no template covers: no owner to check, 403.
    assert client.get("/me", headers=a).json() == {"user": "alice"}
    r = client.get("/me")
    assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Bearer realm="uid-gate"')
    assert r.json() == {"error": "unauthorized", "error_description": "no authorization header"}
    # `user` wants a token even under a public prefix.
    assert client.get("/api/auth/whoami").status_code == 401
    assert client.get("/api/auth/whoami", headers=a).json() == {"user": "alice"}


def test_without_install_fastapi_wraps_the_body():
    app = FastAPI()
    auth = GateAuth(Gate(secret=SECRET))

    @app.get("/me")
    async def me(user: str = Depends(auth.user)):
        return {"user": user}

    r = TestClient(app).get("/me")
    assert r.status_code == 401
    assert r.json() == {"detail": {"error": "unauthorized", "error_description": "no authorization header"}}


async def _echo(scope, receive, send):
    seen = [v.decode() for k, v in scope["headers"] if k.replace(b"_", b"-") == b"x-user-id"]
    body = json.dumps({"uid": scope["state"]["uid"], "seen": seen}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _call(app, path: str, headers: list) -> tuple[int, dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(m):
        sent.append(m)

    raw, _, query = path.encode().partition(b"?")
    scope = {"type": "http", "method": "GET", "path": raw.decode(), "raw_path": raw, "query_string": query, "headers": headers}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent)
    return sent[0]["status"], json.loads(body)


def test_the_middleware_replaces_any_client_identity():
    app = UidGateMiddleware(_echo, gate=Gate(secret=SECRET))
    headers = [(b"authorization", bearer("alice").encode()), (b"x-user-id", b"bob"), (b"x_user_id", b"bob")]
    assert _call(app, "/api/alice/tasks", headers) == (200, {"uid": "alice", "seen": ["alice"]})


def test_trusting_the_gateway_still_applies_the_path_rules():
    app = UidGateMiddleware(_echo, gate=Gate(secret=SECRET, public_paths=["/api/auth"]), trust_gateway=True)
    assert _call(app, "/api/alice/tasks", [(b"x-user-id", b"alice")]) == (200, {"uid": "alice", "seen": ["alice"]})
    assert _call(app, "/api/bob/tasks", [(b"x-user-id", b"alice")])[0] == 403
    assert _call(app, "/api/alice/tasks", [])[0] == 401
    # Two identities: the gateway did not overwrite the client's; refused.
    assert _call(app, "/api/alice/tasks", [(b"x-user-id", b"alice"), (b"x_user_id", b"alice")])[0] == 401
    assert _call(app, "/api/auth/session", [(b"x-user-id", b"mallory")]) == (200, {"uid": None, "seen": []})
    assert _call(app, "/api/a%2Fb/tasks", [(b"x-user-id", b"a")])[0] == 400


def test_every_path_is_classified_and_unlisted_paths_are_closed():
    gate = Gate(secret=SECRET, public_paths="/api/auth", auth_only_paths=["/me"])
    assert gate.auth_only_paths == ["/me"]
    a = bearer("alice")
    for path, want in [
        ("/api/auth/session", (True, 200, "public")),
        ("/me", (True, 200, "authenticated")),
        ("/api/alice/tasks", (True, 200, "owner")),
        ("/api/bob/tasks", (False, 403, "not_owner")),
        ("/app/api/bob/tasks", (False, 403, "unlisted_path")),
    ]:
        d = gate.check(path, a)
        assert (d.allowed, d.status, d.reason) == want, path
    # The opt-out is the old behaviour, and says so when the gate is built.
    with pytest.warns(UserWarning, match="UIDGATE_UNLISTED_PATHS=authenticated"):
        open_gate = Gate.from_env({"BETTER_AUTH_SECRET": SECRET, "UIDGATE_UNLISTED_PATHS": "authenticated"})
    d = open_gate.check("/app/api/bob/tasks", a)
    assert (d.allowed, d.reason, d.user_id) == (True, "unlisted_allowed", "alice")
    with pytest.raises(ConfigError) as e:
        Gate(secret=SECRET, unlisted_paths="allow")
    assert e.value.var == "UIDGATE_UNLISTED_PATHS"


def test_a_prefix_that_covers_a_template_is_refused():
    for kwargs, var in [({"public_paths": ["/api"]}, "UIDGATE_PUBLIC_PATHS"), ({"auth_only_paths": "/api/"}, "UIDGATE_AUTH_ONLY_PATHS")]:
        with pytest.raises(ConfigError) as e:
            Gate(secret=SECRET, **kwargs)
        assert e.value.var == var and "covers the template" in str(e.value)


def test_the_dependencies_on_an_unlisted_route():
    # `user` declares its route authenticated-only; `identity` is the service's decision.
    app = FastAPI()
    install(app)
    auth = GateAuth(Gate(secret=SECRET))

    @app.get("/whoami")
    async def whoami(user: str = Depends(auth.user)):
        return {"user": user}

    @app.get("/export")
    async def export(user=Depends(auth.identity)):
        return {"user": user}

    client = TestClient(app)
    a = {"authorization": bearer("alice")}
    assert client.get("/whoami", headers=a).json() == {"user": "alice"}
    r = client.get("/export", headers=a)
    assert r.status_code == 403 and r.json()["error_description"] == "no access rule covers this path"


def test_the_testing_helper_mints_with_the_gates_secret():
    from uid_gate.testing import auth_header, token

    app = FastAPI()
    install(app)
    gate = Gate(secret=SECRET, issuer="https://app.example")
    auth = GateAuth(gate)

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str, owner: str = Depends(auth.owner)):
        return {"owner": owner}

    client = TestClient(app)
    h = auth_header(gate, "alice", claims={"iss": "https://app.example"})
    assert client.get("/api/alice/tasks", headers=h).json() == {"owner": "alice"}
    assert client.get("/api/bob/tasks", headers=h).status_code == 403
    assert client.get("/api/alice/tasks").status_code == 401
    assert client.get("/api/alice/tasks", headers=auth_header(gate, "alice")).status_code == 401  # no iss
    expired = token(gate, "alice", ttl=-3600, claims={"iss": "https://app.example"})
    r = client.get("/api/alice/tasks", headers={"Authorization": "Bearer " + expired})
    assert (r.status_code, r.json()["error_description"]) == (401, "token has expired")
    # Signed with the gate's secret, as an independent HMAC check confirms.
    payload = token(gate, "alice", claim="sub")
    msg, sig = payload.rsplit(".", 1)
    want = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), msg.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    assert sig == want
    with pytest.raises(ValueError, match="no HS256 secret"):
        token(Gate(jwks_url="http://127.0.0.1:9/jwks", refresh=False), "alice")


def test_keywords_and_from_env_follow_the_cores_variables():
    import inspect

    from uid_gate import _VARS
    from uid_gate._uid_gate import _variables

    assert set(_VARS.values()) == set(_variables())
    missing = set(_VARS) - set(inspect.signature(Gate).parameters)
    assert not missing, f"Gate() takes no keyword for {missing}"
    # A typo is reported with the closest name, as the service reports it; the gate still runs.
    with pytest.warns(UserWarning, match="unknown variable UIDGATE_PUBLIC_PATH is ignored; did you mean UIDGATE_PUBLIC_PATHS"):
        gate = Gate.from_env({"BETTER_AUTH_SECRET": SECRET, "UIDGATE_PUBLIC_PATH": "/healthz"})
    assert gate.check("/healthz").status == 401
    with pytest.raises(ConfigError) as e:
        Gate.from_env({"BETTER_AUTH_SECERT": SECRET})
    assert str(e.value) == "BETTER_AUTH_SECRET is required (BETTER_AUTH_SECERT is set: a typo?)"
