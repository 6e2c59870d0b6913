#!/usr/bin/env bash
# FastAPI benchmark (issue #11), side by side in one run: the same route under one uvicorn
# worker pinned to CPU 0, wrk on CPU 1 (-c32), for each setup in bench/fastapi_app.py, the
# setups interleaved over BENCH_ROUNDS rounds (3) and the medians reported (one sample per
# setup swung by 20 % between runs on these VMs); then the decision alone from Python:
# uid_gate's Gate.check vs PyJWT decode + uid comparison.
#
#   bash bench/fastapi.sh            full run (~10 s per setup and round)
#   bash bench/fastapi.sh --smoke    one round of one second per setup, to keep the harness working (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
[ "${1:-}" = "--smoke" ] && seconds=1 && rounds=1
command -v wrk > /dev/null || { apt-get update -qq > /dev/null && apt-get install -y -qq wrk > /dev/null; }
venv=$(bash .ci/venv.sh --dev)
[ -n "${UIDGATE_SKIP_WHEEL:-}" ] || bash python/build.sh > /dev/null
py=$venv/bin/python
# CPU pinning as command prefixes (arrays, not a function: `$!` must be uvicorn itself).
cpu0=() cpu1=()
if command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then cpu0=(taskset -c 0) cpu1=(taskset -c 1); fi

BETTER_AUTH_SECRET=$("$py" -c 'import secrets; print(secrets.token_urlsafe(32))')
export BETTER_AUTH_SECRET
TOKEN=$("$py" -c 'import jwt, os, time; print(jwt.encode({"uid": "alice", "exp": int(time.time()) + 3600}, os.environ["BETTER_AUTH_SECRET"], algorithm="HS256"))')
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port/api/alice/tasks

echo "FastAPI $("$py" -c 'import fastapi; print(fastapi.__version__)'), uvicorn $("$py" -c 'import uvicorn; print(uvicorn.__version__)'), $(nproc) CPUs, wrk -c32 -d${seconds}s, medians of $rounds interleaved rounds"
setups=(none null pyjwt_def pyjwt_async uid_gate_dependency null_middleware uid_gate_middleware)
declare -A all rate
measure() { # setup -> one sample appended to all[setup]
  local setup=$1 pid code deny out non2xx
  BENCH_SETUP=$setup "${cpu0[@]}" "$py" -m uvicorn --app-dir bench fastapi_app:app --port "$port" \
    --log-level warning --no-access-log > /tmp/uid-gate-bench-uvicorn.log 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$url" || true)
    [ "$code" = 200 ] && break
    sleep 0.05
  done
  [ "$code" = 200 ] || { echo "$setup did not answer 200 (got $code)" >&2; cat /tmp/uid-gate-bench-uvicorn.log >&2; kill $pid; exit 1; }
  # The guarded setups must also deny: bob's path with alice's token.
  case $setup in none | null | null_middleware) ;; *)
    deny=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/bob/tasks")
    [ "$deny" = 403 ] || { echo "$setup answered $deny for another user's path" >&2; kill $pid; exit 1; } ;;
  esac
  out=$("${cpu1[@]}" wrk -t1 -c32 -d"${seconds}s" -H "authorization: Bearer $TOKEN" "$url")
  kill $pid; wait $pid 2> /dev/null || true
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<< "$out")
  [ -z "$non2xx" ] || { echo "$setup: $non2xx non-2xx answers under load" >&2; exit 1; }
  all[$setup]+=" $(awk '/Requests\/sec/ { print $2 }' <<< "$out")"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for _ in $(seq 1 "$rounds"); do
  for setup in "${setups[@]}"; do measure "$setup"; done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '%-22s %10s %9s %12s %16s   %s\n' setup "req/s" "vs none" "vs null dep" "vs null middle." "rounds"
for setup in "${setups[@]}"; do
  rate[$setup]=$(echo "${all[$setup]}" | median)
done
for setup in "${setups[@]}"; do
  printf '%-22s %10.0f %9s %12s %16s  %s\n' "$setup" "${rate[$setup]}" "$(ratio "${rate[$setup]}" "${rate[none]}")" \
    "$(ratio "${rate[$setup]}" "${rate[null]}")" "$(ratio "${rate[$setup]}" "${rate[null_middleware]}")" "${all[$setup]}"
done
echo "uid_gate dependency vs PyJWT async dependency: $(printf '%.2fx' "$(awk "BEGIN { print ${rate[uid_gate_dependency]} / ${rate[pyjwt_async]} }")")"

TOKEN=$TOKEN "${cpu0[@]}" "$py" - "$seconds" << 'PY'
import os, sys, time
import jwt
from uid_gate import Gate
secret, token = os.environ["BETTER_AUTH_SECRET"], os.environ["TOKEN"]
gate = Gate(secret=secret)
auth = "Bearer " + token
def ours():
    return gate.check("/api/alice/tasks", auth).allowed
def pyjwt():
    return jwt.decode(token, secret, algorithms=["HS256"]).get("uid") == "alice"
assert ours() and pyjwt()
def per_call(f, budget):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget:
        for _ in range(1000):
            f()
        n += 1000
    return (time.perf_counter() - t0) / n * 1e6
budget = max(0.2, float(sys.argv[1]) / 5)
a, b = per_call(ours, budget), per_call(pyjwt, budget)
print(f"decision alone from Python: uid_gate {a:.2f} us/call, PyJWT decode + compare {b:.2f} us/call, {b / a:.1f}x")
PY
