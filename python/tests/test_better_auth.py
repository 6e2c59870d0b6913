"""Tokens from the real better-auth package (tests/interop/mint.mjs), accepted by a FastAPI
route: the JWT plugin's HS256 token (a custom `jwt.sign`), an app-signed HS256 token with
only `sub`, and the plugin's default EdDSA token, verified through its JWKS URL, fetched by
the gate's background refresher."""

from __future__ import annotations

import time

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from uid_gate import Gate
from uid_gate.fastapi import GateAuth, install


def _app(gate: Gate) -> TestClient:
    app = FastAPI()
    install(app)
    auth = GateAuth(gate)

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str, owner: str = Depends(auth.owner)):
        return {"owner": owner}

    return TestClient(app)


def test_hs256_tokens_from_better_auth(better_auth):
    users, tokens = better_auth["users"], better_auth["tokens"]
    base = better_auth["base_url"]
    client = _app(Gate(secret=better_auth["secret"], issuer=base, audience=base))
    alice, bob = users["alice"], users["bob"]
    bearer = {"authorization": f"Bearer {tokens['plugin_hs256']}"}
    r = client.get(f"/api/{alice}/tasks", headers=bearer)
    assert (r.status_code, r.json()) == (200, {"owner": alice})
    r = client.get(f"/api/{bob}/tasks", headers=bearer)
    assert r.status_code == 403
    assert r.json() == {"error": "insufficient_scope", "error_description": "token user does not own this path"}
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    # App-minted with only `sub` (no iss/aud): accepted by a gate that does not pin them.
    plain = _app(Gate(secret=better_auth["secret"]))
    app_token = {"authorization": f"Bearer {tokens['app_hs256_sub']}"}
    assert plain.get(f"/api/{users['bob']}/tasks", headers=app_token).status_code in (200, 403)
    expired = plain.get(f"/api/{alice}/tasks", headers={"authorization": f"Bearer {tokens['app_hs256_expired']}"})
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_the_plugins_eddsa_token_through_a_jwks_url(better_auth, jwks_server):
    jwks_server.serve(better_auth["jwks"])
    base = better_auth["base_url"]
    gate = Gate(jwks_url=jwks_server.url, issuer=base, audience=base)
    deadline = time.monotonic() + 10
    while gate.jwks_key_count == 0:
        assert time.monotonic() < deadline, "the JWKS was never fetched"
        time.sleep(0.05)
    client = _app(gate)
    carol, alice = better_auth["users"]["carol"], better_auth["users"]["alice"]
    bearer = {"authorization": f"Bearer {better_auth['tokens']['eddsa']}"}
    r = client.get(f"/api/{carol}/tasks", headers=bearer)
    assert (r.status_code, r.json()) == (200, {"owner": carol})
    assert client.get(f"/api/{alice}/tasks", headers=bearer).status_code == 403
    # No secret configured: an HS256 token cannot pass.
    hs = {"authorization": f"Bearer {better_auth['tokens']['plugin_hs256']}"}
    assert client.get(f"/api/{alice}/tasks", headers=hs).status_code == 401
    gate.close()
