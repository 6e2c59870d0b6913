"""One FastAPI route, /api/{user_id}/tasks, guarded as BENCH_SETUP says (bench/fastapi.sh):
none, null (an async dependency returning a constant), pyjwt_def / pyjwt_async (HS256 +
uid comparison with PyJWT, the way FastAPI apps write it today), uid_gate_dependency
(auth.owner), uid_gate_middleware (the pure ASGI middleware) or null_middleware (a pure ASGI
middleware that only passes the request on: the middleware's floor)."""

import os

import jwt
from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from uid_gate import Gate
from uid_gate.asgi import UidGateMiddleware
from uid_gate.fastapi import GateAuth, install

SECRET = os.environ["BETTER_AUTH_SECRET"]
SETUP = os.environ["BENCH_SETUP"]
bearer = HTTPBearer()

app = FastAPI()


def _pyjwt(user_id: str, credentials: HTTPAuthorizationCredentials) -> str:
    try:
        claims = jwt.decode(credentials.credentials, SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid token", headers={"www-authenticate": "Bearer"}) from None
    if claims.get("uid") != user_id:
        raise HTTPException(403, "not your data")
    return claims["uid"]


def pyjwt_def(user_id: str, credentials: HTTPAuthorizationCredentials = Security(bearer)) -> str:
    return _pyjwt(user_id, credentials)


async def pyjwt_async(user_id: str, credentials: HTTPAuthorizationCredentials = Security(bearer)) -> str:
    return _pyjwt(user_id, credentials)


async def null() -> str:
    return "alice"


deps = {"null": null, "pyjwt_def": pyjwt_def, "pyjwt_async": pyjwt_async}
if SETUP == "uid_gate_dependency":
    install(app)
    deps[SETUP] = GateAuth(Gate.from_env()).owner

if SETUP in deps:
    dep = deps[SETUP]

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str, owner: str = Depends(dep)) -> dict:
        return {"user": owner}

else:

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str) -> dict:
        return {"user": user_id}


if SETUP == "uid_gate_middleware":
    app = UidGateMiddleware(app, gate=Gate.from_env())


class NullMiddleware:
    """A pure ASGI middleware that does nothing: what wrapping the app costs by itself."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


if SETUP == "null_middleware":
    app = NullMiddleware(app)
