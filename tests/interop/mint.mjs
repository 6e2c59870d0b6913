// Mints tokens with the real Better Auth library (in-memory database, no network) and prints
// them as JSON for tests/it/interop.rs:
//   - plugin_hs256: the JWT plugin's own /token endpoint, HS256 through its custom `jwt.sign`
//     hook, payload { uid } (plus the plugin's sub, iat, exp, iss, aud);
//   - app_hs256_sub: what most Better Auth apps do: a session from auth.api.getSession, then
//     jose's SignJWT({ sub: user.id }) with BETTER_AUTH_SECRET, HS256, 1 h;
//   - app_hs256_expired: the same, already expired;
//   - eddsa and jwks: the plugin's default EdDSA token and its JWKS (for the JWKS mode).
// Environment: BETTER_AUTH_SECRET (required), BASE_URL (default http://localhost:3000).
process.env.BETTER_AUTH_TELEMETRY = "0";
import { betterAuth } from "better-auth";
import { bearer, jwt } from "better-auth/plugins";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

const SECRET = process.env.BETTER_AUTH_SECRET;
if (!SECRET) throw new Error("BETTER_AUTH_SECRET is required");
const BASE = process.env.BASE_URL ?? "http://localhost:3000";
const key = new TextEncoder().encode(SECRET);

function makeAuth(jwtOptions) {
  return betterAuth({
    secret: SECRET,
    baseURL: BASE,
    emailAndPassword: { enabled: true },
    logger: { disabled: true },
    plugins: [bearer(), jwt(jwtOptions)],
  });
}

async function signUp(auth, name) {
  const r = await auth.api.signUpEmail({
    body: { email: `${name}@example.com`, password: "password-1234", name },
    returnHeaders: true,
  });
  const cookie = r.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  return { id: r.response.user.id, headers: new Headers({ cookie }) };
}

// 1. HS256 from the JWT plugin itself, through its custom signer.
const hsAuth = makeAuth({
  jwks: { remoteUrl: `${BASE}/unused-jwks`, keyPairConfig: { alg: "EdDSA" } },
  jwt: {
    definePayload: ({ user }) => ({ uid: user.id }),
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key),
  },
});
const alice = await signUp(hsAuth, "alice");
const bob = await signUp(hsAuth, "bob");
const { token: plugin_hs256 } = await hsAuth.api.getToken({ headers: alice.headers });

// 1b. The same hook with an empty payload: the plugin still adds sub (and iat, exp, iss, aud).
const subAuth = makeAuth({
  jwks: { remoteUrl: `${BASE}/unused-jwks`, keyPairConfig: { alg: "EdDSA" } },
  jwt: {
    definePayload: () => ({}),
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key),
  },
});
const dave = await signUp(subAuth, "dave");
const { token: plugin_hs256_sub_only } = await subAuth.api.getToken({ headers: dave.headers });

// 2. The common app pattern: session first, then an HS256 token with `sub`.
const session = await hsAuth.api.getSession({ headers: alice.headers });
const app_hs256_sub = await new SignJWT({ sub: session.user.id })
  .setProtectedHeader({ alg: "HS256" })
  .setIssuedAt()
  .setExpirationTime("1h")
  .sign(key);
const now = Math.floor(Date.now() / 1000);
const app_hs256_expired = await new SignJWT({ sub: session.user.id })
  .setProtectedHeader({ alg: "HS256" })
  .setIssuedAt(now - 7200)
  .setExpirationTime(now - 3600)
  .sign(key);

// 3. The plugin's default: EdDSA with a JWKS.
const edAuth = makeAuth({ jwt: { definePayload: ({ user }) => ({ uid: user.id }) } });
const carol = await signUp(edAuth, "carol");
const { token: eddsa } = await edAuth.api.getToken({ headers: carol.headers });
const jwks = await edAuth.api.getJwks();

// 4. ES256 and RS256 (the plugin's other key types), signed by jose, with their public JWKs.
const other_keys = [];
const other = {};
for (const alg of ["ES256", "RS256"]) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: `test-${alg}`, alg };
  other_keys.push(jwk);
  other[alg] = await new SignJWT({ uid: alice.id })
    .setProtectedHeader({ alg, kid: jwk.kid })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(privateKey);
}

console.log(JSON.stringify({
  base_url: BASE,
  users: { alice: alice.id, bob: bob.id, carol: carol.id, dave: dave.id },
  tokens: { plugin_hs256, plugin_hs256_sub_only, app_hs256_sub, app_hs256_expired, eddsa, es256: other.ES256, rs256: other.RS256 },
  jwks,
  other_jwks: { keys: other_keys },
}));
