"""Organizations, teams and the read-only admin through FastAPI's dependencies: the core
decides (the same table every host runs); these check what a route gets and what it refuses."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from uid_gate import Gate
from uid_gate.fastapi import Access, GateAuth, install
from uid_gate.testing import auth_header

SECRET = "a-test-secret-of-at-least-32-bytes!!"


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate(
        secret=SECRET,
        path_templates=["/api/{user_id}", "/api/orgs/{org_id}", "/api/orgs/{org_id}/members/{user_id}"],
        scope_claims="org_id=activeOrganizationId",
        admin_roles=["admin"],
    )


@pytest.fixture(scope="module")
def client(gate: Gate) -> TestClient:
    app = FastAPI()
    install(app)
    auth = GateAuth(gate)

    @app.api_route("/api/orgs/{org_id}/tasks", methods=["GET", "POST"])
    async def org_tasks(org_id: str, access: Access = Depends(auth.access)):
        return {"org": org_id, "user": access.user_id, "reason": access.reason, "placeholders": access.placeholders}

    @app.get("/api/orgs/{org_id}/members/{user_id}")
    async def member(org_id: str, user_id: str, access: Access = Depends(auth.access)):
        return access.placeholders

    @app.get("/api/orgs/{org_id}/strict")
    async def strict(org_id: str, uid: str = Depends(auth.owner)):
        return {"user": uid}

    @app.get("/api/{team}/{user_id}/x")
    async def team_user(team: str, user_id: str, uid=Depends(auth.identity)):
        return {"user": uid}

    @app.get("/whoami")
    async def whoami(access: Access = Depends(auth.access)):
        return {"user": access.user_id}

    @app.get("/other/{org_id}")
    async def other(org_id: str, uid: str = Depends(auth.user)):
        return {"user": uid}

    @app.api_route("/api/{user_id}/tasks", methods=["GET", "POST"])
    async def tasks(user_id: str, access: Access = Depends(auth.access)):
        return {"owner": user_id, "user": access.user_id, "reason": access.reason}

    @app.get("/api/{user_id}/owned")
    async def owned(user_id: str, uid: str = Depends(auth.owner)):
        return {"user": uid}

    @app.get("/api/orgs/{org_id}/{rest:path}")
    async def anything(org_id: str, uid=Depends(auth.identity)):
        return {"user": uid}

    return TestClient(app)


def org(gate: Gate, user: str, org_id, **claims) -> dict[str, str]:
    return auth_header(gate, user, claims={"activeOrganizationId": org_id, **claims})


def test_a_member_gets_the_placeholders_that_matched(client: TestClient, gate: Gate) -> None:
    r = client.get("/api/orgs/o%31/tasks", headers=org(gate, "alice", "o1"))
    assert r.status_code == 200, r.text
    assert r.json() == {"org": "o1", "user": "alice", "reason": "member", "placeholders": {"org_id": "o1"}}
    r = client.get("/api/orgs/o1/members/alice", headers=org(gate, "alice", "o1"))
    assert r.json() == {"org_id": "o1", "user_id": "alice"}


def test_members_of_another_organization_and_of_none_are_refused(client: TestClient, gate: Gate) -> None:
    r = client.get("/api/orgs/o2/tasks", headers=org(gate, "alice", "o1"))
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")
    assert r.json()["error_description"] == "token does not grant this path's organization or team"
    r = client.get("/api/orgs/o1/tasks", headers=org(gate, "alice", None))
    assert r.status_code == 403
    assert r.json()["error_description"] == "token names no organization or team for this path"
    assert client.get("/api/orgs/o1/tasks").status_code == 401


def test_an_admin_reads_through_access_and_writes_nothing(client: TestClient, gate: Gate) -> None:
    admin = auth_header(gate, "root", claims={"role": "user,admin"})
    r = client.get("/api/bob/tasks", headers=admin)
    assert r.json() == {"owner": "bob", "user": "root", "reason": "admin"}
    r = client.get("/api/orgs/o9/tasks", headers=admin)
    assert (r.status_code, r.json()["reason"]) == (200, "admin")
    assert client.post("/api/bob/tasks", headers=admin).status_code == 403
    assert client.post("/api/orgs/o9/tasks", headers=admin).status_code == 403
    # `owner` stays strict: the token's user must be the path's.
    assert client.get("/api/bob/owned", headers=admin).status_code == 403
    assert client.get("/api/orgs/o9/strict", headers=admin).status_code == 403
    assert client.get("/api/root/owned", headers=admin).json() == {"user": "root"}


def test_a_route_parameter_named_like_a_placeholder_needs_a_template(client: TestClient, gate: Gate) -> None:
    # /api/orgs/{org_id}/x/y: judged by the org template, the route's org_id is the same segment.
    r = client.get("/api/orgs/o1/x/y", headers=org(gate, "alice", "o1"))
    assert r.json() == {"user": "alice"}
    # /api/orgs/o2/...: not a member, whatever the dependency.
    assert client.get("/api/orgs/o2/x/y", headers=org(gate, "alice", "o1")).status_code == 403
    # The template read alice as the user; the route's {user_id} is bob: refused.
    alice = org(gate, "alice", "o1")
    assert client.get("/api/alice/bob/x", headers=alice).status_code == 403
    assert client.get("/api/alice/alice/x", headers=alice).json() == {"user": "alice"}
    # /api/orgs/tasks is the organization "tasks" to the gate, never user "orgs" to the route.
    tasks_org = org(gate, "orgs", "tasks")
    assert client.get("/api/orgs/tasks", headers=tasks_org).status_code == 403
    # `access` needs a template's judgement: a path any valid token passes is refused.
    assert client.get("/whoami", headers=alice).status_code == 403
    # No template judges /other/o1 (any valid token would do): the route's {org_id} is unjudged.
    assert client.get("/other/o1", headers=alice).status_code == 403


def test_the_gate_names_its_placeholders_and_refuses_unbound_ones() -> None:
    g = Gate(secret=SECRET, path_templates="/api/{user_id},/t/{team_id}", scope_claims="team_id=teams.id")
    assert g.placeholders == ["user_id", "team_id"]
    from uid_gate import ConfigError

    with pytest.raises(ConfigError) as e:
        Gate(secret=SECRET, path_templates="/api/orgs/{org_id}")
    assert e.value.var == "UIDGATE_PATH_TEMPLATES"
    assert "{org_id}" in str(e.value)
