"""The demo's page in a real Chromium, through the demo's Envoy, with the real Better Auth
server (envoy/demo.sh): alice and bob sign up on the page, each sees only their own tasks,
alice's try at bob's tasks shows 403, a tampered token 401, an expired one 401, and after a
reload the API still accepts nothing but the Bearer token: the session cookie never reaches
the app. Both signing modes (HS256 with the shared secret, EdDSA through the JWKS).

Run by tests/it/browser.rs, which installs Debian's chromium on first use and names it in
CHROMIUM (default /usr/bin/chromium): missing, the test fails. Screenshots go to SCREENSHOTS (default target/browser/)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
# The plugin's token lifetime in this test: long enough for the steps before the expiry
# check on a slow machine, short enough that waiting it out costs little.
TTL = 12
PORT_VARS = ["DEMO_PORT", "DEMO_ENVOY_ADMIN_PORT", "DEMO_GRPC_PORT", "DEMO_ADMIN_PORT", "DEMO_APP_PORT", "DEMO_AUTH_PORT"]
# Chromium's background services would dial out of this closed machine at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    assert shutil.which(chromium), f"no Chromium at {chromium}: apt-get install chromium (tests/it/browser.rs installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def run_demo(**extra):
    """`bash envoy/demo.sh` on free ports with `extra` variables; yields its environment."""
    env = dict(os.environ, DEMO_AUTH="better-auth", DEMO_JWT_TTL=f"{TTL}s",
               UIDGATE_LEEWAY_SECS="0", UIDGATE_SKIP_WHEEL="1", **extra)
    env.update({var: str(free_port()) for var in PORT_VARS})
    demo = subprocess.Popen(["bash", "envoy/demo.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = []
    try:
        for line in demo.stdout:
            out.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert demo.poll() is None, "the demo stopped:\n" + "".join(out)
        yield env
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=20)


@pytest.fixture(params=["hs256", "eddsa"])
def stack(request):
    """The demo in one signing mode; yields the mode and the page's URL (Envoy's origin)."""
    for env in run_demo(DEMO_SIGNING=request.param):
        yield request.param, f"http://localhost:{env['DEMO_PORT']}"


@pytest.fixture(params=["envoy", "app"])
def cross_origin(request):
    """The demo with the page on Better Auth's own origin, calling the API cross-origin at
    Envoy's URL or at the FastAPI app directly (DEMO_API); yields the target, the page's URL
    and the API's URL."""
    for env in run_demo(DEMO_SIGNING="hs256", DEMO_API=request.param):
        api_port = env["DEMO_PORT"] if request.param == "envoy" else env["DEMO_APP_PORT"]
        yield request.param, f"http://localhost:{env['DEMO_AUTH_PORT']}", f"http://localhost:{api_port}"


def status_text(page: Page) -> str:
    return page.locator("#status").inner_text()


def sign_up(page: Page, base: str, name: str) -> str:
    page.goto(base + "/")
    page.fill("#name", name)
    page.fill("#email", f"{name}@example.com")
    page.fill("#password", f"{name}-password-1")
    page.click("#sign-up")
    expect(page.locator("#signed-in")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("200: 0 task(s)")
    return page.locator("#user-id").inner_text()


def add_task(page: Page, title: str) -> None:
    page.fill("#title", title)
    page.click("#add")
    expect(page.locator("#tasks")).to_contain_text(title)


def two_users(browser, base: str, task: str):
    """alice and bob sign up on the page at `base` in their own browser contexts and each adds
    a task; returns their contexts, pages and ids, and the list of alice's tasks-API requests
    (with their headers as sent), filled as she goes on."""
    shots = Path(os.environ.get("SCREENSHOTS", ROOT / "target" / "browser"))
    shots.mkdir(parents=True, exist_ok=True)
    alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
    alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
    api_requests = []
    alice.on("request", lambda r: api_requests.append(r) if re.search(r"/api/(?!auth/)", r.url) else None)
    alice_id = sign_up(alice, base, "alice")
    bob_id = sign_up(bob, base, "bob")
    assert alice_id and bob_id and alice_id != bob_id
    add_task(alice, f"alice's {task}")
    add_task(bob, f"bob's {task}")
    expect(alice.locator("#tasks")).not_to_contain_text(f"bob's {task}")
    expect(bob.locator("#tasks")).not_to_contain_text(f"alice's {task}")
    return shots, (alice_ctx, alice, alice_id), (bob_ctx, bob, bob_id), api_requests


def test_two_users_in_a_real_browser(browser, stack):
    mode, base = stack
    shots, (alice_ctx, alice, alice_id), (bob_ctx, bob, bob_id), api_requests = two_users(browser, base, "first task")
    expect(alice.locator("#status")).to_contain_text(f"200: 1 task(s) of {alice_id}")
    alice.screenshot(path=shots / f"better-auth-{mode}-signed-in.png")

    # alice asks for bob's tasks: uid-gate refuses, the page says why.
    alice.fill("#other-id", bob_id)
    alice.click("#other")
    expect(alice.locator("#status")).to_contain_text("403 insufficient_scope")
    assert "another user" in status_text(alice) and "does not own this path" in status_text(alice)
    alice.screenshot(path=shots / f"better-auth-{mode}-403.png")

    alice.click("#tampered")
    expect(alice.locator("#status")).to_contain_text("401 invalid_token")
    alice.click("#no-token")
    expect(alice.locator("#status")).to_contain_text("401")

    # A reload keeps Better Auth's session, not the JWT: the page gets a new token and the
    # API still takes nothing but it. The browser holds the session cookie (sent to
    # /api/auth/* only by the page); a fetch that sends it to the API without a token is
    # 401, and with a token 200, which it could not be if the cookie reached the app (400).
    alice.reload()
    expect(alice.locator("#tasks")).to_contain_text("alice's first task")
    assert any(c["name"].endswith("session_token") for c in alice_ctx.cookies())
    # (The token stays inside the browser: a failing assertion prints no credential.)
    probe = """async ([path, withToken]) => {
        const headers = {};
        if (withToken) headers.authorization = "Bearer " + (await (await fetch("/api/auth/token")).json()).token;
        return (await fetch(path, {credentials: "include", headers})).status;
    }"""
    path = f"/api/{alice_id}/tasks"
    from_page = list(api_requests)
    assert alice.evaluate(probe, [path, False]) == 401
    assert alice.evaluate(probe, [path, True]) == 200
    assert len(from_page) >= 7, "the page made too few API requests"  # 3 own, 1 other, 2 denied, 1 after reload
    for r in from_page:
        headers = r.all_headers()
        assert "cookie" not in headers, f"the page sent a cookie to {r.url}"
        if r.url.endswith(f"/api/{alice_id}/tasks") and "authorization" in headers:
            assert headers["authorization"].startswith("Bearer ")

    # Wait out the token's lifetime (no leeway in this stack): the same token is now 401.
    deadline = time.monotonic() + TTL + 10
    while "expired" not in alice.locator("#token-left").inner_text():
        assert time.monotonic() < deadline, "the page's token never expired"
        time.sleep(0.5)
    time.sleep(1.1)  # the page counts whole seconds; exp is checked against the server's clock
    alice.click("#reload-tasks")
    expect(alice.locator("#status")).to_contain_text("401 invalid_token")
    assert "expired" in status_text(alice)
    alice.click("#new-token")
    expect(alice.locator("#status")).to_contain_text("200: 1 task(s)")
    alice_ctx.close()
    bob_ctx.close()


def test_a_page_on_another_origin_reads_401_and_403(browser, cross_origin):
    """The front end on its own origin (as a Next.js app on :3000), the API on another: every
    call is preflighted (it carries Authorization), and the page reads each answer, the 401s
    and the 403 included, as that status, never as a network error."""
    target, page_url, api_url = cross_origin
    shots, (alice_ctx, alice, alice_id), (bob_ctx, bob, bob_id), api_requests = two_users(browser, page_url, "cross-origin task")
    expect(alice.locator("#tasks-path")).to_have_text(f"{api_url}/api/{alice_id}/tasks")

    alice.fill("#other-id", bob_id)
    alice.click("#other")
    expect(alice.locator("#status")).to_contain_text("403 insufficient_scope")
    alice.screenshot(path=shots / f"cross-origin-{target}-403.png")
    alice.click("#tampered")
    expect(alice.locator("#status")).to_contain_text("401 invalid_token")
    alice.click("#no-token")
    expect(alice.locator("#status")).to_contain_text("401")
    assert "network error" not in status_text(alice)

    # Every API call went to the other origin, with the token and without a cookie.
    assert api_requests and all(r.url.startswith(api_url + "/") for r in api_requests), [r.url for r in api_requests]
    for r in api_requests:
        assert "cookie" not in r.all_headers(), f"the page sent a cookie to {r.url}"
    # The listed origin reads even a bad token's 401; the same page on an origin the API does
    # not list (127.0.0.1 for localhost) reads nothing: the browser hides the answer.
    probe = """async (url) => {
        try { return String((await fetch(url, {headers: {authorization: "Bearer x"}})).status); }
        catch (e) { return "blocked"; } }"""
    url = f"{api_url}/api/{alice_id}/tasks"
    assert alice.evaluate(probe, url) == "401"
    stranger_ctx = browser.new_context()
    stranger = stranger_ctx.new_page()
    stranger.goto(page_url.replace("localhost", "127.0.0.1") + "/")
    assert stranger.evaluate(probe, url) == "blocked"
    stranger_ctx.close()
    alice_ctx.close()
    bob_ctx.close()


def create_org(page: Page, name: str) -> str:
    """Creates an organization on the page (Better Auth's organization plugin makes it the
    session's active one; the page asks for a new token); returns its id."""
    page.fill("#org-name", name)
    page.click("#create-org")
    expect(page.locator("#org-box")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("200: 0 task(s) of organization")
    return page.locator("#org-id").inner_text()


def refused_write(page: Page, button: str) -> int:
    """Clicks a button that POSTs to the tasks API; the status the page got."""
    with page.expect_response(lambda r: r.request.method == "POST" and "/api/" in r.url and "/api/auth/" not in r.url) as answer:
        page.click(button)
    return answer.value.status


def test_organizations_and_a_read_only_admin(browser):
    """alice and bob each create an organization on the page and read and write only its
    tasks (the other's is 403, on the page); an account with Better Auth's admin role reads
    bob's and his organization's tasks, and gets 403 on a write. EdDSA: the claims come
    through the plugin's keys."""
    for env in run_demo(DEMO_SIGNING="eddsa"):
        base = f"http://localhost:{env['DEMO_PORT']}"
        shots, (alice_ctx, alice, alice_id), (bob_ctx, bob, bob_id), _ = two_users(browser, base, "own task")
        alice_org, bob_org = create_org(alice, "Alice Inc"), create_org(bob, "Bob Ltd")
        assert alice_org and bob_org and alice_org != bob_org
        for page, title in ((alice, "alice's org task"), (bob, "bob's org task")):
            page.fill("#org-title", title)
            page.click("#org-add")
            expect(page.locator("#org-tasks")).to_contain_text(title)
        expect(alice.locator("#org-tasks")).not_to_contain_text("bob's org task")
        expect(bob.locator("#org-tasks")).not_to_contain_text("alice's org task")

        # Each on the other's organization: 403 on a read and on a write, shown on the page.
        for page, other in ((alice, bob_org), (bob, alice_org)):
            page.fill("#other-org", other)
            page.click("#other-org-read")
            expect(page.locator("#status")).to_contain_text("403 insufficient_scope")
            assert "does not grant this path's organization" in status_text(page)
            assert refused_write(page, "#other-org-write") == 403
        alice.screenshot(path=shots / "organizations-403.png")

        # The admin: reads bob's tasks and his organization's, writes neither.
        admin_ctx = browser.new_context()
        admin = admin_ctx.new_page()
        admin_id = sign_up(admin, base, "admin")
        expect(admin.locator("#role")).to_have_text("admin")
        admin.fill("#other-id", bob_id)
        admin.click("#other")
        expect(admin.locator("#status")).to_contain_text(f"200: read {bob_id}'s tasks (1), as {admin_id}")
        assert refused_write(admin, "#other-write") == 403
        expect(admin.locator("#status")).to_contain_text("403 insufficient_scope")
        admin.fill("#other-org", bob_org)
        admin.click("#other-org-read")
        expect(admin.locator("#status")).to_contain_text(f"200: read organization {bob_org}'s tasks (1), as {admin_id}")
        assert refused_write(admin, "#other-org-write") == 403
        admin.screenshot(path=shots / "admin-403-on-write.png")
        # Not an admin: alice's read of bob's tasks stays 403.
        alice.fill("#other-id", bob_id)
        alice.click("#other")
        expect(alice.locator("#status")).to_contain_text("403 insufficient_scope")
        for ctx in (alice_ctx, bob_ctx, admin_ctx):
            ctx.close()
