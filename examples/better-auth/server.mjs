// The demo's Better Auth server: email and password accounts (in memory), the organization and
// admin plugins, the JWT plugin with `definePayload` putting the user id, the session's active
// organization and the user's role in the token (what uid-gate judges: UIDGATE_UID_CLAIMS,
// UIDGATE_SCOPE_CLAIMS, UIDGATE_ROLE_CLAIMS), and the demo's web page at `/`.
// Envoy routes `/api/auth/*` and the page here; everything else goes through uid-gate to the
// FastAPI app, which never sees this server's session cookie.
//
//   BETTER_AUTH_URL=http://localhost:10000 BETTER_AUTH_SECRET_FILE=.demo/secret node server.mjs
//
// Environment:
//   BETTER_AUTH_SECRET or BETTER_AUTH_SECRET_FILE  the shared secret (a file: its first line)
//   BETTER_AUTH_URL    the public URL (Envoy's); the tokens' `iss` and `aud` (required)
//   AUTH_SIGNING       hs256 (default): HS256 with the shared secret, what uid-gate checks
//                      with BETTER_AUTH_SECRET; eddsa: the plugin's default, uid-gate reads
//                      the keys from /api/auth/jwks (UIDGATE_JWKS_URL)
//   AUTH_JWT_TTL       the tokens' lifetime, in the plugin's format (default "15m")
//   TRUSTED_ORIGINS    extra origins allowed to post forms, comma-separated (the URL's
//                      origin always is)
//   API_URL            where the page finds the tasks API when it is served from this
//                      server's own origin (default: BETTER_AUTH_URL, i.e. through Envoy);
//                      the page calls it cross-origin, and the CSP allows exactly it
//   ADMIN_EMAILS       comma-separated emails whose accounts get the admin plugin's `admin`
//                      role when they sign up (default: none)
//   HOST, PORT         where to listen (default 127.0.0.1:3000)
process.env.BETTER_AUTH_TELEMETRY = "0";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { admin, bearer, jwt, organization } from "better-auth/plugins";
import { SignJWT } from "jose";

function fail(message) {
  console.error(`better-auth example: ${message}`);
  process.exit(2);
}

function readSecret() {
  const file = process.env.BETTER_AUTH_SECRET_FILE;
  if (file) {
    // The same rule as uid-gate's: the first non-empty line is the current secret.
    const line = readFileSync(file, "utf8").split("\n").map((l) => l.replace(/\r$/, "")).find((l) => l);
    if (!line) fail(`${file} (BETTER_AUTH_SECRET_FILE) holds no secret`);
    return line;
  }
  return process.env.BETTER_AUTH_SECRET ?? fail("set BETTER_AUTH_SECRET or BETTER_AUTH_SECRET_FILE");
}

const SECRET = readSecret();
const BASE = process.env.BETTER_AUTH_URL ?? fail("set BETTER_AUTH_URL to the public URL (Envoy's), e.g. http://localhost:10000");
const SIGNING = process.env.AUTH_SIGNING ?? "hs256";
const TTL = process.env.AUTH_JWT_TTL ?? "15m";
const TRUSTED = (process.env.TRUSTED_ORIGINS ?? "").split(",").map((o) => o.trim()).filter(Boolean);
const API_URL = process.env.API_URL ?? BASE;
const ADMINS = (process.env.ADMIN_EMAILS ?? "").split(",").map((e) => e.trim().toLowerCase()).filter(Boolean);
const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 3000);

// HS256: the plugin's payload (uid, and its own sub, iat, exp, iss, aud) signed with the
// shared secret through its custom-signer hook. The hook needs a `remoteUrl`, which also
// turns the server's own /api/auth/jwks off: there are no public keys in this mode.
const signing = {
  hs256: {
    jwks: { remoteUrl: `${BASE}/api/auth/jwks`, keyPairConfig: { alg: "EdDSA" } },
    jwt: {
      sign: (payload) =>
        new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(SECRET)),
    },
  },
  eddsa: { jwks: { keyPairConfig: { alg: "EdDSA" } }, jwt: {} },
}[SIGNING] ?? fail(`AUTH_SIGNING must be hs256 or eddsa, not ${JSON.stringify(SIGNING)}`);

export const auth = betterAuth({
  secret: SECRET,
  baseURL: BASE,
  trustedOrigins: TRUSTED,
  emailAndPassword: { enabled: true },
  // The demo's admins: their role is set when they sign up (the admin plugin stores roles as
  // a comma-separated string; uid-gate reads whole names from it).
  databaseHooks: {
    user: {
      create: {
        before: async (user) => ({ data: { ...user, role: ADMINS.includes(user.email.toLowerCase()) ? "admin" : "user" } }),
      },
    },
  },
  plugins: [
    bearer(),
    organization(),
    admin(),
    jwt({
      jwks: signing.jwks,
      jwt: {
        ...signing.jwt,
        expirationTime: TTL,
        // The organization active when the token is issued (null: none); switching
        // organizations means asking for a new token.
        definePayload: ({ user, session }) => ({
          uid: user.id,
          activeOrganizationId: session.activeOrganizationId ?? null,
          role: user.role ?? "user",
        }),
      },
    }),
  ],
});

const authHandler = toNodeHandler(auth);
const page = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
};
// Read once: the page is two small static files; the page learns the API's URL from a meta tag.
const apiOrigin = new URL(API_URL).origin;
const files = Object.fromEntries(
  Object.entries(page).map(([path, [file, type]]) => {
    let body = readFileSync(new URL(`public/${file}`, import.meta.url), "utf8");
    if (file === "index.html") body = body.replace('<meta name="api-url" content="">', `<meta name="api-url" content="${apiOrigin}">`);
    return [path, [body, type]];
  }),
);
const pageHeaders = {
  "cache-control": "no-store",
  "content-security-policy": `default-src 'self'; connect-src 'self' ${apiOrigin}; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'`,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const server = createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path.startsWith("/api/auth/")) return authHandler(req, res);
  const file = files[path];
  if (file && (req.method === "GET" || req.method === "HEAD")) {
    res.writeHead(200, { ...pageHeaders, "content-type": file[1] });
    return res.end(req.method === "HEAD" ? undefined : file[0]);
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: "not_found" }));
});
server.listen(PORT, HOST, () => {
  console.log(`better-auth example: listening on ${HOST}:${PORT}, public URL ${BASE}, signing ${SIGNING}, tokens for ${TTL}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
