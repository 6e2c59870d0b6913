"""The demo's backend: a tasks API per user and per organization (in memory) behind Envoy and
uid-gate.

The demo runs it behind Envoy with a real Better Auth server (examples/better-auth) or, without
Node, with tokens from `uid-gate mint`. Every task route is judged again in process (defence in
depth behind Envoy): adding a task takes `auth.owner` (the token's user must be the path's
`{user_id}`); reading takes `auth.access`, which also lets an admin (UIDGATE_ADMIN_ROLES) read.
With `{org_id}` in UIDGATE_PATH_TEMPLATES (bound by UIDGATE_SCOPE_CLAIMS, as the demo sets it),
`/api/orgs/{org_id}/tasks` serves the organization's tasks to its members; without, those
routes do not exist (404), rather than being judged by a template that does not name them. `/me` needs
any valid token: it is listed in UIDGATE_AUTH_ONLY_PATHS so that uid-gate lets it through
(a path no rule covers is refused). Run it with the same variables as uid-gate
(BETTER_AUTH_SECRET or _FILE, UIDGATE_PUBLIC_PATHS, UIDGATE_AUTH_ONLY_PATHS, ...):

    uvicorn --app-dir examples/fastapi app:app --port 8081

CORS_ORIGINS (comma-separated) lets a page on those origins call the app directly: Starlette's
CORSMiddleware, added last so that it is outermost, answers their preflights before any
dependency runs and puts access-control-allow-origin on every answer, the gate's 401, 403
and 400 included (docs/fastapi.md, "A page on another origin").
"""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from uid_gate import Gate
from uid_gate.fastapi import Access, GateAuth, install

app = FastAPI(title="uid-gate demo: tasks per user")
install(app)
gate = Gate.from_env()
auth = GateAuth(gate)
TASKS: dict[str, list[dict]] = {}
ORG_TASKS: dict[str, list[dict]] = {}


@app.middleware("http")
async def no_cookies(request: Request, call_next):
    """A stateless API: the token is the only credential. Envoy removes the front end's
    session cookie on every route to this app; one that arrives anyway is refused, so a proxy
    that forwards cookies is noticed at once rather than relied on."""
    if "cookie" in request.headers:
        return JSONResponse(
            {"error": "invalid_request", "error_description": "cookies are not accepted: send the token as Authorization: Bearer"},
            status_code=400,
        )
    return await call_next(request)


# Added after every other middleware, so it is the outermost: a preflight never meets the
# gate or the cookie check, and every answer passes back through it.
CORS_ORIGINS = [o.strip() for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()]
if CORS_ORIGINS:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=CORS_ORIGINS,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["authorization", "content-type"],
        expose_headers=["www-authenticate"],
        allow_credentials=False,
        max_age=600,
    )


class NewTask(BaseModel):
    title: str


@app.get("/api/{user_id}/tasks")
async def list_tasks(user_id: str, access: Access = Depends(auth.access)) -> dict:
    """The path's user's tasks: the caller's own, or any user's for an admin's read (reason
    `admin`); another user's path is 403 before this runs."""
    return {"user": user_id, "reader": access.user_id, "tasks": TASKS.get(user_id, [])}


@app.post("/api/{user_id}/tasks", status_code=201)
async def add_task(user_id: str, task: NewTask, owner: str = Depends(auth.owner)) -> dict:
    """Adds a task for the caller."""
    return _add(TASKS, owner, task.title)


def _add(store: dict[str, list[dict]], key: str, title: str) -> dict:
    tasks = store.setdefault(key, [])
    tasks.append({"id": len(tasks) + 1, "title": title})
    return tasks[-1]


if "org_id" in gate.placeholders:

    @app.get("/api/orgs/{org_id}/tasks")
    async def list_org_tasks(org_id: str, access: Access = Depends(auth.access)) -> dict:
        """The organization's tasks, for its members (the token's active organization) and
        for an admin's read."""
        return {"organization": org_id, "reader": access.user_id, "tasks": ORG_TASKS.get(org_id, [])}

    @app.post("/api/orgs/{org_id}/tasks", status_code=201)
    async def add_org_task(org_id: str, task: NewTask, access: Access = Depends(auth.access)) -> dict:
        """Adds a task to the organization (a member: an admin's write is refused by the gate,
        UIDGATE_ADMIN_METHODS being GET and HEAD)."""
        return _add(ORG_TASKS, org_id, task.title)


@app.get("/me")
async def me(user: str = Depends(auth.user)) -> dict:
    """Who the token says the caller is: any valid token (an authenticated-only route)."""
    return {"user": user}


@app.get("/api/auth/ok")
async def auth_ok() -> dict:
    """Stands in for Better Auth's own (public) routes."""
    return {"ok": True}


@app.get("/healthz")
async def healthz() -> JSONResponse:
    """Ready once the gate can verify tokens (with a JWKS URL: after the first keys arrived)."""
    return JSONResponse({"ok": gate.ready}, status_code=200 if gate.ready else 503)
