"""The demo's backend: a tasks API per user (in memory) behind Envoy and uid-gate.

Every task route takes the user from `auth.owner`: the token is verified again in process
(defence in depth behind Envoy) and must belong to the `{user_id}` in the path. `/me` needs
any valid token: it is listed in UIDGATE_AUTH_ONLY_PATHS so that uid-gate lets it through
(a path no rule covers is refused). Run it with the same variables as uid-gate
(BETTER_AUTH_SECRET or _FILE, UIDGATE_PUBLIC_PATHS, UIDGATE_AUTH_ONLY_PATHS, ...):

    uvicorn --app-dir examples/fastapi app:app --port 8081
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from uid_gate import Gate
from uid_gate.fastapi import GateAuth, install

app = FastAPI(title="uid-gate demo: tasks per user")
install(app)
auth = GateAuth(Gate.from_env())
TASKS: dict[str, list[dict]] = {}


class NewTask(BaseModel):
    title: str


@app.get("/api/{user_id}/tasks")
async def list_tasks(user_id: str, owner: str = Depends(auth.owner)) -> dict:
    """The caller's own tasks; another user's path is 403 before this runs."""
    return {"user": owner, "tasks": TASKS.get(owner, [])}


@app.post("/api/{user_id}/tasks", status_code=201)
async def add_task(user_id: str, task: NewTask, owner: str = Depends(auth.owner)) -> dict:
    """Adds a task for the caller."""
    tasks = TASKS.setdefault(owner, [])
    tasks.append({"id": len(tasks) + 1, "title": task.title})
    return tasks[-1]


@app.get("/me")
async def me(user: str = Depends(auth.user)) -> dict:
    """Who the token says the caller is: any valid token (an authenticated-only route)."""
    return {"user": user}


@app.get("/api/auth/ok")
async def auth_ok() -> dict:
    """Stands in for Better Auth's own (public) routes."""
    return {"ok": True}


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}
