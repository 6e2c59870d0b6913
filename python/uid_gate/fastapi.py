"""FastAPI dependencies: the verified user, from the same decision as the uid-gate service.

.. code-block:: python

    from fastapi import Depends, FastAPI
    from uid_gate import Gate
    from uid_gate.fastapi import GateAuth, install

    app = FastAPI()
    auth = GateAuth(Gate.from_env())
    install(app)  # deny bodies exactly as the service sends them

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str = Depends(auth.owner)): ...   # the path's user, verified

    @app.get("/me")
    async def me(user_id: str = Depends(auth.user)): ...        # any valid token

    @app.get("/api/orgs/{org_id}/tasks")
    async def org_tasks(org_id: str, access: Access = Depends(auth.access)): ...
        # the token names org_id (UIDGATE_SCOPE_CLAIMS), or holds an admin role on a GET

Each dependency is also the OpenAPI ``HTTP bearer`` security scheme, so ``/docs`` has a
working *Authorize* button. The path is the one the router routes, read from the raw request
target (``raw_path`` without ``root_path``, and the query string), never from the decoded
path, so ``..``, ``%2F`` and ``;`` tricks are refused (400). The dependencies work on
WebSocket routes too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Optional, Union

from fastapi import FastAPI, HTTPException, Request, WebSocketException
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.responses import Response
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from . import Decision, Gate
from ._uid_gate import _not_owner

__all__ = ["Access", "GateAuth", "GateHTTPException", "install"]

log = logging.getLogger("uid_gate")


@dataclass(frozen=True)
class Access:
    """What :attr:`GateAuth.access` hands a route: who asked and why the path is theirs."""

    #: The verified user id of the token (an admin's own id on an admin read).
    user_id: str
    #: ``owner`` (the path's ``{user_id}``), ``member`` (every placeholder matched the token's
    #: claims) or ``admin`` (an admin role on a method of ``UIDGATE_ADMIN_METHODS``).
    reason: str
    #: The judging template's placeholders and their decoded segments: ``{"org_id": "o1"}``.
    placeholders: dict[str, str] = field(default_factory=dict)


class GateHTTPException(HTTPException):
    """A denied request: the service's status, ``WWW-Authenticate`` challenge and body.

    ``detail`` is the JSON body as a dict (``{"error": ..., "error_description": ...}``) and
    ``reason`` the stable reason code. With :func:`install`, the response body is exactly
    the service's; without it, FastAPI wraps it as ``{"detail": {...}}``.
    """

    def __init__(self, decision: Decision) -> None:
        body = decision.body or b"{}"
        super().__init__(
            status_code=decision.status,
            detail=json.loads(body),
            headers=dict(decision.headers),
        )
        #: The stable reason code (``expired``, ``not_owner``, ...).
        self.reason: str = decision.reason
        self.body = body


async def _gate_exception_handler(request: Request, exc: GateHTTPException) -> Response:
    return Response(
        content=exc.body,
        status_code=exc.status_code,
        headers=exc.headers,
        media_type="application/json",
    )


def install(app: FastAPI) -> None:
    """Makes denials render exactly as the service's: the JSON body without FastAPI's
    ``detail`` wrapper."""
    app.add_exception_handler(GateHTTPException, _gate_exception_handler)  # type: ignore[arg-type]


class _GateDependency(SecurityBase):
    """One dependency: checks the request and is the OpenAPI bearer scheme."""

    def __init__(self, gate: Gate, mode: str, scheme_name: str, description: str) -> None:
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name
        self._gate = gate
        self._mode = mode
        self._placeholders = tuple(gate.placeholders)

    async def __call__(self, conn: HTTPConnection) -> Union[Optional[str], Access]:
        # HTTPConnection, not Request: FastAPI hands the same dependency a WebSocket too.
        # Async and I/O-free: the check takes microseconds, so no thread-pool hop.
        decision = self._gate.check_scope(conn.scope, public=self._mode == "identity")
        if not decision.allowed:
            if decision.reason == "internal":
                log.error("uid-gate failed inside; request denied (503)")
            _deny(conn, decision)
        # The route's contract: `owner` is the path's {user_id} itself; `access` any judged
        # placeholder; a route parameter named like a placeholder ({user_id}, {org_id}) names
        # an owner too, whatever the dependency: never "any valid token".
        if self._mode == "owner":
            fits = decision.reason == "owner"
        elif self._mode == "access" or any(p in conn.path_params for p in self._placeholders):
            fits = decision.templated or (self._mode == "identity" and decision.reason == "public")
        else:
            fits = True
        if not fits:
            # The path is judged by no template this route's contract needs, so it names no
            # owner this token could match: 403 insufficient_scope, as for someone else's path.
            _deny(conn, _not_owner())
        judged = decision.placeholders
        for name in self._placeholders:
            if decision.reason != "public" and name in conn.path_params and judged.get(name) != conn.path_params[name]:
                # The template read another segment for this placeholder than the route's
                # parameter of that name (/api/{user_id} before /api/{org}/{user_id}/x), or
                # judged none (/api/orgs/{org_id} for a route's /api/{user_id}/tasks): the
                # handler would act for an owner the token was not judged for.
                _deny(conn, _not_owner())
        if self._mode == "access":
            return Access(decision.user_id, decision.reason, decision.placeholders)
        return decision.user_id


def _deny(conn: HTTPConnection, decision: Decision) -> None:
    """Raises the denial: an HTTP error, or for a WebSocket a close before accept (1008),
    which servers answer with HTTP 403; the description goes in the close reason."""
    if conn.scope.get("type") == "websocket":
        description = json.loads(decision.body or b"{}").get("error_description", "")
        raise WebSocketException(code=1008, reason=description[:120])
    raise GateHTTPException(decision)


class GateAuth:
    """FastAPI dependencies built on a :class:`~uid_gate.Gate`.

    - :attr:`user`: the verified user id for any route; a token is required even under a
      public prefix (``str``).
    - :attr:`owner`: the verified user id, which must also own the route's ``{user_id}``
      path segment (read with the gate's templates from the raw path; ``str``). A route
      that no template covers gets 403: declare its template in ``path_templates``.
      Any dependency on a route with a ``{user_id}`` parameter behaves this way.
    - :attr:`identity`: exactly the service's decision: ``None`` on public paths, the user
      id elsewhere (``Optional[str]``); for a catch-all route or a router-wide dependency.
    - :attr:`access`: for organization, team and admin-readable routes: the path must be
      judged by a template (``owner``, ``member`` or ``admin``), and the route gets an
      :class:`Access` with the user id, the reason and the placeholders that matched.
      :attr:`owner` stays strict (``owner`` only): an admin read needs a route on ``access``.

    Every route parameter named like a template placeholder must equal the segment the
    template judged, whatever the dependency.

    Denials raise :class:`GateHTTPException` with the service's status, challenge and body.
    """

    def __init__(self, gate: Gate, *, scheme_name: str = "BetterAuthJWT") -> None:
        self.gate = gate
        description = "A Better Auth JWT (HS256 or EdDSA), checked by uid-gate."
        #: Dependency: the verified user id (``str``).
        self.user = _GateDependency(gate, "user", scheme_name, description)
        #: Dependency: the verified user id, owner of the path's ``{user_id}`` (``str``).
        self.owner = _GateDependency(gate, "owner", scheme_name, description)
        #: Dependency: the service's decision; ``None`` on public paths (``Optional[str]``).
        self.identity = _GateDependency(gate, "identity", scheme_name, description)
        #: Dependency: an :class:`Access` on a path a template judged (``Access``).
        self.access = _GateDependency(gate, "access", scheme_name, description)
