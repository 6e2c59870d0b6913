# The demo without Better Auth (sourced by envoy/demo.sh when DEMO_AUTH=minted, or without
# Node): tokens from `uid-gate mint`, signed with the demo's secret; the FastAPI app's
# /api/auth/ok stands in for Better Auth's public routes.
ALICE=$("$UIDGATE_BIN" mint alice --ttl 3600)
BOB=$("$UIDGATE_BIN" mint bob --ttl 3600)
base=http://127.0.0.1:$port_envoy

cat << MSG

uid-gate demo (minted tokens, no Better Auth) is up: Envoy on $base, uid-gate on 127.0.0.1:$port_grpc, the FastAPI tasks app on 127.0.0.1:$port_app.
Dev secret in $state/secret; logs in $state/*.log. Tokens (HS256, 1 h) for alice and bob:

  ALICE=$ALICE
  BOB=$BOB

  curl -i $base/api/alice/tasks -H "authorization: Bearer \$ALICE"   # 200, alice's tasks
  curl -i $base/api/alice/tasks -H "authorization: Bearer \$ALICE" -H 'content-type: application/json' -d '{"title":"write docs"}'  # 201
  curl -i $base/api/bob/tasks   -H "authorization: Bearer \$ALICE"   # 403 insufficient_scope
  curl -i $base/api/alice/tasks                                     # 401, no token
  curl -i $base/api/alice/tasks -H "authorization: Bearer \${ALICE}x" # 401 invalid_token
  curl -i $base/api/auth/ok                                         # 200, public route
  curl -i $base/me              -H "authorization: Bearer \$ALICE"   # 200, authenticated-only route
  curl -i $base/export          -H "authorization: Bearer \$ALICE"   # 403 unlisted_path: no rule covers it
  curl -i "$base/api/alice%2F..%2Fbob/tasks" -H "authorization: Bearer \$ALICE"  # 400, refused by Envoy
  curl -i $base/api/alice/tasks -H "authorization: Bearer \$ALICE" -H 'cookie: s=1'  # 200: Envoy drops cookies

MSG

if [ "$mode" = "--check" ]; then
  expect 200 "$base/api/alice/tasks" -H "authorization: Bearer $ALICE"
  expect 403 "$base/api/bob/tasks" -H "authorization: Bearer $ALICE"
  expect 200 "$base/api/bob/tasks" -H "authorization: Bearer $BOB"
  expect 401 "$base/api/alice/tasks"
  expect 401 "$base/api/alice/tasks" -H "authorization: Bearer ${ALICE}x"
  expect 200 "$base/api/auth/ok"
  expect 200 "$base/me" -H "authorization: Bearer $ALICE"
  expect 403 "$base/export" -H "authorization: Bearer $ALICE"
  expect 400 "$base/api/alice%2F..%2Fbob/tasks" -H "authorization: Bearer $ALICE"
  # The app refuses any request that carries a cookie; Envoy removes them on its routes.
  expect 200 "$base/api/alice/tasks" -H "authorization: Bearer $ALICE" -H "cookie: session=abc"
  added=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/alice/tasks" -H "authorization: Bearer $ALICE" -H 'content-type: application/json' -d '{"title":"write docs"}')
  listed=$(curl -fs "$base/api/alice/tasks" -H "authorization: Bearer $ALICE")
  if [ "$added" = 201 ] && grep -q '"user":"alice"' <<< "$listed" && grep -q 'write docs' <<< "$listed"; then
    pass "201  POST then GET /api/alice/tasks: the app stored alice's task"
  else
    fail "the app did not store alice's task ($added, $listed)"
  fi
fi
