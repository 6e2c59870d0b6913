// The page's whole client: Better Auth's HTTP API (the same calls `authClient.signUp.email`,
// `authClient.signIn.email` and `authClient.token()` make) and the tasks API with a Bearer
// token. The JWT lives in this variable only: not in a cookie, not in localStorage. After a
// reload the page asks Better Auth for a new one with its session cookie, which is sent to
// /api/auth/* only.
"use strict";
let token = null;
let payload = null;
const $ = (id) => document.getElementById(id);

// Where the tasks API is. Served through Envoy (the API's own port) the page calls its own
// origin; served from the front end's own origin (Better Auth's port, as a Next.js app on
// :3000 would be) it calls the API URL the server names, cross-origin: every request then
// carries a preflight (Authorization), and the API's CORS policy lets the page read the
// answers, denials included.
const API_URL = document.querySelector('meta[name="api-url"]')?.content ?? "";
const API = API_URL && new URL(API_URL).port !== location.port ? API_URL.replace(/\/$/, "") : "";

// What each deny means, in one line; the API's own error_description follows it.
const MEANING = {
  401: "uid-gate refused: no valid token (missing, forged, tampered or expired)",
  403: "uid-gate refused: this path belongs to another user or organization",
  400: "uid-gate refused: the request is malformed",
  503: "uid-gate could not be asked, so Envoy refused (fail closed)",
};

function show(text, deny) {
  $("status").textContent = text;
  $("status").className = deny ? "deny" : "";
}

async function authCall(path, body) {
  // Better Auth's own routes use its session cookie (same origin).
  const r = await fetch(`/api/auth/${path}`, {
    method: body ? "POST" : "GET",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${r.status} ${data?.message ?? data?.code ?? r.statusText}`);
  return data;
}

async function fetchToken() {
  // GET /api/auth/token: the JWT plugin signs a token for the session's user.
  const { token: jwt } = await authCall("token");
  token = jwt;
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  payload = JSON.parse(atob(part));
  $("who").textContent = $("email").value || payload.email || payload.uid;
  $("user-id").textContent = payload.uid;
  $("role").textContent = payload.role ?? "user";
  $("tasks-path").textContent = `${API}/api/${payload.uid}/tasks`;
  // The organization active when this token was issued (null: none).
  const org = payload.activeOrganizationId;
  $("org-id").textContent = org ?? "";
  $("org-path").textContent = org ? `${API}/api/orgs/${org}/tasks` : "none active";
  $("org-box").hidden = !org;
  $("account").hidden = true;
  $("signed-in").hidden = false;
  tick();
}

function tick() {
  if (!payload) return;
  const left = payload.exp - Math.floor(Date.now() / 1000);
  $("token-left").textContent = left > 0 ? `${left} s more` : "no longer (expired)";
}
setInterval(tick, 1000);

const userPath = (userId) => `/api/${encodeURIComponent(userId)}/tasks`;
const orgPath = (orgId) => `/api/orgs/${encodeURIComponent(orgId)}/tasks`;

async function api(path, { method = "GET", body, bearer = token } = {}) {
  // The token goes only in the Authorization header; `credentials: "omit"` keeps the
  // browser from attaching the session cookie (Envoy would remove it anyway).
  const headers = {};
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body) headers["content-type"] = "application/json";
  const r = await fetch(`${API}${path}`, {
    method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit",
  }).catch(() => null);
  if (!r) {
    // What a page sees of a denial that carries no CORS grant: no status at all.
    show(`network error: no answer this page may read from ${API || "its own origin"} (a CORS policy missing?)`, true);
    return { status: 0, data: {} };
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const meaning = MEANING[r.status] ?? "refused";
    show(`${r.status} ${data.error ?? ""}: ${meaning} (${data.error_description ?? "no description"})`, true);
  }
  return { status: r.status, data };
}

function list(id, tasks) {
  $(id).replaceChildren(...tasks.map((t) => {
    const li = document.createElement("li");
    li.textContent = t.title;
    return li;
  }));
}

async function loadOrgTasks() {
  const org = payload?.activeOrganizationId;
  if (!org) return;
  const { status, data } = await api(orgPath(org));
  if (status !== 200) return;
  list("org-tasks", data.tasks);
  show(`200: ${data.tasks.length} task(s) of organization ${data.organization}`);
}

async function loadTasks() {
  const { status, data } = await api(userPath(payload.uid));
  if (status !== 200) return;
  list("tasks", data.tasks);
  show(`200: ${data.tasks.length} task(s) of ${data.user}`);
}

function guard(fn) {
  return async () => {
    try { await fn(); } catch (e) { show(String(e.message ?? e), true); }
  };
}

const credentials = () => ({ email: $("email").value, password: $("password").value });
$("sign-up").onclick = guard(async () => {
  await authCall("sign-up/email", { ...credentials(), name: $("name").value || $("email").value });
  await fetchToken();
  await loadTasks();
});
$("sign-in").onclick = guard(async () => {
  await authCall("sign-in/email", credentials());
  await fetchToken();
  await loadTasks();
});
$("sign-out").onclick = guard(async () => {
  await authCall("sign-out", {});
  token = payload = null;
  $("signed-in").hidden = true;
  $("account").hidden = false;
  show("Signed out.");
});
$("new-token").onclick = guard(async () => { await fetchToken(); await loadTasks(); });
$("reload-tasks").onclick = guard(loadTasks);
$("add").onclick = guard(async () => {
  const { status } = await api(userPath(payload.uid), { method: "POST", body: { title: $("title").value } });
  if (status === 201) { $("title").value = ""; await loadTasks(); }
});
$("other").onclick = guard(async () => {
  const { status, data } = await api(userPath($("other-id").value));
  if (status === 200) show(`200: read ${data.user}'s tasks (${data.tasks.length}), as ${data.reader}`, false);
});
$("other-write").onclick = guard(async () => {
  const { status } = await api(userPath($("other-id").value), { method: "POST", body: { title: "not yours" } });
  if (status === 201) show("201: added to another user's tasks", false);
});
// An organization: created through Better Auth, which makes it the session's active one; the
// new token carries it (activeOrganizationId), and uid-gate compares it with {org_id}.
$("create-org").onclick = guard(async () => {
  const name = $("org-name").value || "my organization";
  const slug = `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${Math.random().toString(36).slice(2, 8)}`;
  const created = await authCall("organization/create", { name, slug });
  // Set it active explicitly, as authClient.organization.setActive does: that also renews the
  // session's cookie cache, which the token endpoint reads (create alone leaves it stale).
  await authCall("organization/set-active", { organizationId: created.id });
  await fetchToken();
  await loadOrgTasks();
});
$("org-reload").onclick = guard(loadOrgTasks);
$("org-add").onclick = guard(async () => {
  const { status } = await api(orgPath(payload.activeOrganizationId), { method: "POST", body: { title: $("org-title").value } });
  if (status === 201) { $("org-title").value = ""; await loadOrgTasks(); }
});
$("other-org-read").onclick = guard(async () => {
  const { status, data } = await api(orgPath($("other-org").value));
  if (status === 200) show(`200: read organization ${data.organization}'s tasks (${data.tasks.length}), as ${data.reader}`, false);
});
$("other-org-write").onclick = guard(async () => {
  const { status } = await api(orgPath($("other-org").value), { method: "POST", body: { title: "not yours" } });
  if (status === 201) show("201: added to another organization's tasks", false);
});
$("tampered").onclick = guard(async () => {
  // One character inside the signature changed: the token no longer verifies.
  const at = token.length - 10;
  const swapped = token[at] === "A" ? "B" : "A";
  await api(userPath(payload.uid), { bearer: token.slice(0, at) + swapped + token.slice(at + 1) });
});
$("no-token").onclick = guard(async () => { await api(userPath(payload.uid), { bearer: null }); });

// A reload keeps Better Auth's session (its cookie), not the JWT: ask for a new token.
fetchToken().then(loadTasks).catch(() => {});
