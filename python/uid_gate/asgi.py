"""A pure ASGI middleware (no ``BaseHTTPMiddleware``): every request is judged before the app
sees it, with the service's public paths and templates.

.. code-block:: python

    from uid_gate import Gate
    from uid_gate.asgi import UidGateMiddleware

    app.add_middleware(UidGateMiddleware, gate=Gate.from_env())   # FastAPI / Starlette
    # or: app = UidGateMiddleware(app, gate=Gate.from_env())       # any ASGI app

An allowed request reaches the app with ``scope["state"]["uid"]`` (``request.state.uid`` in
Starlette; ``None`` on public paths) and with ``x-user-id`` set to the verified user, any
client-sent ``x-user-id`` (or ``x_user_id``) removed. A denied one is answered here with the
service's status, ``WWW-Authenticate`` challenge and JSON body (WebSockets too, through the
ASGI denial-response extension where the server offers it; otherwise closed before accept
with 1008, which servers answer with a bare HTTP 403).

Behind Envoy, the default re-verifies the token in process (defence in depth). With
``trust_gateway=True`` the middleware takes ``x-user-id`` as verified and only applies the
path rules: safe only when the app is reachable through the gateway alone (see the README).
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, MutableMapping

from . import Gate, raw_target

__all__ = ["UidGateMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("uid_gate")


def _is_user_header(name: bytes) -> bool:
    # Both spellings: CGI/WSGI-style servers read x_user_id as HTTP_X_USER_ID too.
    return name == b"x-user-id" or name.replace(b"_", b"-") == b"x-user-id"


class UidGateMiddleware:
    """Judges every HTTP and WebSocket request with ``gate`` before ``app`` sees it."""

    def __init__(self, app: ASGIApp, gate: Gate, *, trust_gateway: bool = False) -> None:
        self.app = app
        self.gate = gate
        self.trust_gateway = trust_gateway
        if trust_gateway:
            log.warning(
                "uid-gate: trust_gateway=True: x-user-id is taken as verified without a token. Any client that can "
                "reach this app without passing the gateway can name any user: admit only the gateway "
                "(NetworkPolicy, or Istio mTLS STRICT with an AuthorizationPolicy)."
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.trust_gateway:
            decision = self._trusted(scope)
        else:
            decision = self.gate.check_scope(scope)
        if decision.allowed:
            user = decision.user_id
            headers = [(k, v) for k, v in scope["headers"] if not _is_user_header(k)]
            if user is not None:
                # UTF-8 on the wire, as the service and Envoy send it (Starlette's
                # request.headers decodes latin-1; request.state.uid is the str).
                headers.append((b"x-user-id", user.encode("utf-8")))
            scope = dict(scope)
            scope["headers"] = headers
            state = dict(scope.get("state") or {})
            state["uid"] = user
            scope["state"] = state
            await self.app(scope, receive, send)
            return
        if decision.reason == "internal":
            log.error("uid-gate failed inside; request denied (503)")
        body = decision.body or b""
        headers = [(k.encode(), v.encode()) for k, v in decision.headers]
        headers.append((b"content-length", str(len(body)).encode()))
        prefix = "http"
        if kind == "websocket":
            if "websocket.http.response" not in (scope.get("extensions") or {}):
                # No denial-response extension: a close before accept, which servers answer
                # with a bare HTTP 403.
                await send({"type": "websocket.close", "code": 1008})
                return
            # The ASGI denial-response extension: the same status, challenge and body as HTTP.
            prefix = "websocket.http"
        await send({"type": f"{prefix}.response.start", "status": decision.status, "headers": headers})
        await send({"type": f"{prefix}.response.body", "body": body})

    def _trusted(self, scope: Scope):
        users = [v for k, v in scope["headers"] if _is_user_header(k)]
        target = raw_target(scope).decode("latin-1")
        if len(users) > 1:
            # Two identities: the gateway did not overwrite a client's. Refuse.
            return self.gate.check_identity(target, None)
        if not users:
            return self.gate.check_identity(target, None)
        try:
            # UTF-8, as uid-gate and Envoy send it: latin-1 would turn "josé" into another id.
            user = users[0].decode("utf-8")
        except UnicodeDecodeError:
            return self.gate.check_identity(target, None)
        return self.gate.check_identity(target, user)
