"""Tokens for your own tests (pytest with FastAPI's ``TestClient``): HS256, signed with the
gate's current secret, exactly as a Better Auth app signs with ``BETTER_AUTH_SECRET``.

**For tests only.** Anyone who can mint tokens can be any user: never import this module in
production code.

.. code-block:: python

    from uid_gate.testing import auth_header

    def test_tasks(client, gate):
        assert client.get("/api/alice/tasks", headers=auth_header(gate, "alice")).status_code == 200
        assert client.get("/api/bob/tasks", headers=auth_header(gate, "alice")).status_code == 403
        assert client.get("/api/alice/tasks").status_code == 401

The secret never leaves Rust: the gate signs. Short or blank secrets are refused when the
gate is built, as everywhere; a gate with no HS256 secret (JWKS only) cannot mint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Optional

from . import Gate

__all__ = ["token", "auth_header"]


def token(gate: Gate, user_id: str, *, ttl: int = 600, claim: str = "uid", claims: Optional[Mapping[str, Any]] = None) -> str:
    """An HS256 token for ``user_id`` (in ``claim``, ``uid`` by default) that expires in
    ``ttl`` seconds; ``claims`` adds or overrides claims (``iss``, ``aud``, ``exp``...)."""
    now = int(time.time())
    payload = {claim: user_id, "iat": now, "exp": now + ttl}
    payload.update(claims or {})
    return gate._inner._mint(json.dumps(payload, separators=(",", ":")))


def auth_header(gate: Gate, user_id: str, **kwargs: Any) -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}`` for ``user_id``; arguments as :func:`token`."""
    return {"Authorization": "Bearer " + token(gate, user_id, **kwargs)}
