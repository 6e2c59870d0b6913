# The demo with a real Better Auth server (sourced by envoy/demo.sh): prints the page's URL
# and the lines that sign up two users through Better Auth's HTTP API; --check runs exactly
# those lines, then checks what each request gets.
lines=$(cat << LINES
B=$base
json() { python3 -c "import json, sys; print(json.load(sys.stdin)\$1)"; }
# Sign up (Better Auth answers with a session token), then ask the JWT plugin for a JWT.
ALICE_SESSION=\$(curl -s \$B/api/auth/sign-up/email -H 'content-type: application/json' -d '{"name":"alice","email":"alice@example.com","password":"alice-password-1"}' | json '["token"]')
ALICE=\$(curl -s \$B/api/auth/token -H "authorization: Bearer \$ALICE_SESSION" | json '["token"]')
ALICE_ID=\$(curl -s \$B/api/auth/get-session -H "authorization: Bearer \$ALICE_SESSION" | json '["user"]["id"]')
BOB_SESSION=\$(curl -s \$B/api/auth/sign-up/email -H 'content-type: application/json' -d '{"name":"bob","email":"bob@example.com","password":"bob-password-12"}' | json '["token"]')
BOB=\$(curl -s \$B/api/auth/token -H "authorization: Bearer \$BOB_SESSION" | json '["token"]')
BOB_ID=\$(curl -s \$B/api/auth/get-session -H "authorization: Bearer \$BOB_SESSION" | json '["user"]["id"]')
# Each creates an organization (the organization plugin makes it the session's active one),
# then asks for a new JWT: it carries activeOrganizationId, which uid-gate compares with {org_id}.
ALICE_ORG=\$(curl -s \$B/api/auth/organization/create -H "authorization: Bearer \$ALICE_SESSION" -H 'content-type: application/json' -d '{"name":"Alice Inc","slug":"alice-inc"}' | json '["id"]')
ALICE=\$(curl -s \$B/api/auth/token -H "authorization: Bearer \$ALICE_SESSION" | json '["token"]')
BOB_ORG=\$(curl -s \$B/api/auth/organization/create -H "authorization: Bearer \$BOB_SESSION" -H 'content-type: application/json' -d '{"name":"Bob Ltd","slug":"bob-ltd"}' | json '["id"]')
BOB=\$(curl -s \$B/api/auth/token -H "authorization: Bearer \$BOB_SESSION" | json '["token"]')
LINES
)

jwks_line="404: HS256 has no public keys"
[ "$signing" = eddsa ] && jwks_line="200: the public keys uid-gate reads (UIDGATE_JWKS_URL)"
cat << MSG

uid-gate demo is up: Better Auth (signing $signing, tokens for ${DEMO_JWT_TTL:-15m}), uid-gate and the FastAPI tasks app behind one Envoy.

  Open the page: $base/   (http://127.0.0.1:$port_envoy/ works too)
  The same page on the front end's own origin, calling the API cross-origin at $api_url:
                 $page_origin/

Envoy on :$port_envoy sends /api/auth/* and the page to Better Auth (127.0.0.1:$port_auth), everything else
through uid-gate (127.0.0.1:$port_grpc) to the app (127.0.0.1:$port_app), without cookies.
Dev secret in $state/secret; logs in $state/*.log; users live in Better Auth's memory until Ctrl-C.

Sign up alice and bob through Better Auth and get their JWTs (paste into a shell; python3 reads the JSON):

$(sed 's/^/  /' <<< "$lines")

Then:

  curl -i \$B/api/\$ALICE_ID/tasks -H "authorization: Bearer \$ALICE"        # 200, alice's tasks
  curl -i \$B/api/\$ALICE_ID/tasks -H "authorization: Bearer \$ALICE" -H 'content-type: application/json' -d '{"title":"write docs"}'  # 201
  curl -i \$B/api/\$BOB_ID/tasks   -H "authorization: Bearer \$ALICE"        # 403 insufficient_scope
  curl -i \$B/api/orgs/\$ALICE_ORG/tasks -H "authorization: Bearer \$ALICE"    # 200, her organization's tasks
  curl -i \$B/api/orgs/\$BOB_ORG/tasks   -H "authorization: Bearer \$ALICE"    # 403 not_member: bob's organization
  curl -i \$B/api/\$ALICE_ID/tasks                                          # 401, no token
  curl -i \$B/api/\$ALICE_ID/tasks -H "authorization: Bearer \${ALICE}x"      # 401 invalid_token
  curl -i \$B/api/\$ALICE_ID/tasks -H "cookie: better-auth.session_token=\$ALICE_SESSION"  # 401: a session is no credential here
  curl -i \$B/api/auth/jwks                                                # $jwks_line

MSG

if [ "$mode" = "--check" ]; then
  eval "$lines"
  for v in ALICE ALICE_ID BOB BOB_ID ALICE_ORG BOB_ORG; do
    if [ -n "${!v}" ]; then pass "$v from Better Auth"; else fail "no $v from Better Auth (see $state/better-auth.log)"; fi
  done
  B=$base
  note="alice, her own tasks" expect 200 "$B/api/$ALICE_ID/tasks" -H "authorization: Bearer $ALICE"
  note="alice, bob's tasks" expect 403 "$B/api/$BOB_ID/tasks" -H "authorization: Bearer $ALICE"
  note="bob, his own tasks" expect 200 "$B/api/$BOB_ID/tasks" -H "authorization: Bearer $BOB"
  note="alice, her organization's tasks" expect 200 "$B/api/orgs/$ALICE_ORG/tasks" -H "authorization: Bearer $ALICE"
  note="alice, bob's organization's tasks" expect 403 "$B/api/orgs/$BOB_ORG/tasks" -H "authorization: Bearer $ALICE"
  note="alice adds to her organization" expect 201 "$B/api/orgs/$ALICE_ORG/tasks" -H "authorization: Bearer $ALICE" -H 'content-type: application/json' -d '{"title":"plan"}'
  note="bob, his organization's tasks" expect 200 "$B/api/orgs/$BOB_ORG/tasks" -H "authorization: Bearer $BOB"
  note="no token" expect 401 "$B/api/$ALICE_ID/tasks"
  note="a tampered token" expect 401 "$B/api/$ALICE_ID/tasks" -H "authorization: Bearer ${ALICE}x"
  note="a session token is not a JWT" expect 401 "$B/api/$ALICE_ID/tasks" -H "authorization: Bearer $ALICE_SESSION"
  note="the session cookie alone" expect 401 "$B/api/$ALICE_ID/tasks" -H "cookie: better-auth.session_token=$ALICE_SESSION"
  # The app refuses any request that carries a cookie (400); through Envoy none arrives.
  note="token and cookie: Envoy removed the cookie" expect 200 "$B/api/$ALICE_ID/tasks" -H "authorization: Bearer $ALICE" -H "cookie: better-auth.session_token=$ALICE_SESSION"
  note="straight to the app with a cookie: refused" expect 400 "http://127.0.0.1:$port_app/api/$ALICE_ID/tasks" -H "authorization: Bearer $ALICE" -H "cookie: a=1"
  note="authenticated-only route" expect 200 "$B/me" -H "authorization: Bearer $ALICE"
  note="unlisted path" expect 403 "$B/export" -H "authorization: Bearer $ALICE"
  note="encoded slash, refused by Envoy" expect 400 "$B/api/$ALICE_ID%2F..%2F$BOB_ID/tasks" -H "authorization: Bearer $ALICE"
  if [ "$signing" = eddsa ]; then note="public keys" expect 200 "$B/api/auth/jwks"; else note="HS256: no public keys" expect 404 "$B/api/auth/jwks"; fi
  # The page, and Better Auth from both of the demo's origins (trusted origins); a foreign
  # origin's form post is refused by Better Auth itself.
  note="the page" expect 200 "$B/"
  note="the page's script" expect 200 "$B/app.js"
  signin='{"email":"alice@example.com","password":"alice-password-1"}'
  for origin in "http://localhost:$port_envoy" "http://127.0.0.1:$port_envoy"; do
    note="sign-in from $origin" expect 200 "$origin/api/auth/sign-in/email" -H "origin: $origin" -H 'content-type: application/json' -d "$signin"
  done
  note="sign-in from a foreign origin" expect 403 "$B/api/auth/sign-in/email" -H "origin: http://evil.example" -H 'content-type: application/json' -d "$signin"
  # The front end's own origin calls the API cross-origin: its preflight is answered without
  # a token, and a denial carries the grant that lets the page read it.
  grant() { curl -s -o /dev/null -D - "$@" | tr -d '\r' | sed -n 's/^access-control-allow-origin: //Ip'; }
  got=$(grant -X OPTIONS "$api_url/api/$ALICE_ID/tasks" -H "origin: $page_origin" -H 'access-control-request-method: POST' -H 'access-control-request-headers: authorization, content-type')
  if [ "$got" = "$page_origin" ]; then pass "200  preflight from $page_origin to $api_url"; else fail "preflight from $page_origin to $api_url: grant '$got'"; fi
  got=$(grant "$api_url/api/$BOB_ID/tasks" -H "origin: $page_origin" -H "authorization: Bearer $ALICE")
  if [ "$got" = "$page_origin" ]; then pass "403  alice, bob's tasks, from $page_origin: the page may read it"; else fail "403 from $api_url without a grant for $page_origin: '$got'"; fi
  got=$(grant "$api_url/api/$BOB_ID/tasks" -H "origin: http://evil.example" -H "authorization: Bearer $ALICE")
  if [ -z "$got" ]; then pass "403  from a foreign origin: no grant"; else fail "a foreign origin was granted '$got'"; fi
  added=$(status "$B/api/$ALICE_ID/tasks" -H "authorization: Bearer $ALICE" -H 'content-type: application/json' -d '{"title":"write docs"}')
  listed=$(curl -fs "$B/api/$ALICE_ID/tasks" -H "authorization: Bearer $ALICE")
  if [ "$added" = 201 ] && grep -q "\"user\":\"$ALICE_ID\"" <<< "$listed" && grep -q 'write docs' <<< "$listed"; then
    pass "201  POST then GET /api/\$ALICE_ID/tasks: the app stored alice's task"
  else
    fail "the app did not store alice's task ($added, $listed)"
  fi
fi
