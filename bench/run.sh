#!/usr/bin/env bash
# uid-gate benchmarks, measured side by side in one run on this machine:
#   1. Envoy, no auth (ceiling)   2. Envoy + jwt_authn (HS256, oct JWKS)   3. Envoy + ext_authz -> uid-gate
#   4. the same over HTTP ext_authz   (5 was the Lua engine, removed in 0.3)
#   6. setup 3 with Envoy's google_grpc client instead of envoy_grpc (also generated)
#   7. the uid-gate module inside Envoy (`envoy-config --inline`), beside 7a, the same module
#      built with `bench-null-filter`: it reads nothing and lets every request through (the
#      dynamic-module mechanism's floor); then 1, 2 and 7 again over HTTP/2 downstream (h2load)
#      and with Envoy --concurrency 2
# through wrk with one Envoy worker and a direct-response route; then uid-gate alone over gRPC
# with h2load and a pre-encoded CheckRequest (max rate, then p99 at half that rate, peak RSS),
# start to SERVING, and the criterion micro-benchmark of the decision function.
#
#   bash bench/run.sh            full run (release build, ~2 min of load)
#   bash bench/run.sh --smoke    a few seconds, to keep the harness working (CI runs this)
#
# BENCH_MODULE_BASELINE: another revision's release directory (its uid-gate and module), the
# module measured as 7b in the same rounds (e.g. a worktree's `cargo build --release
# --bin uid-gate -p uid-gate-envoy` with its own CARGO_TARGET_DIR);
# BENCH_MODULE_ONLY=1: setups 1, 2, 7, 7a (and 7b) only, then stop.
# BENCH_MODULE_PARTS=1: adds 7c, the module built with `bench-abi-filter` (its reads and writes
# through Envoy, no decision), and prints how the module's cost over 7a splits between the two.
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_ROUNDS (3: setups 1, 2, 7 and 7a
# are interleaved this many times and their medians reported), BENCH_RUST_LOG (info: uid-gate logs
# every decision, as deployed), UIDGATE_BIN and UIDGATE_LOAD_BIN to skip the build (the module
# is then the libuid_gate_envoy.so beside UIDGATE_BIN, or UIDGATE_MODULE; the null module
# UIDGATE_NULL_MODULE, else built here).
# CPUs: Envoy's worker is pinned to CPU 0; wrk and uid-gate to CPU 1. Measured alone, uid-gate
# runs one worker thread on CPU 0 ("per core") and h2load runs on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
rounds=${BENCH_ROUNDS:-3}
if [ $smoke = 1 ]; then seconds=1; conns=8; rounds=1; fi

need() { command -v "$1" > /dev/null 2>&1; }
if ! need wrk || ! need h2load; then
  echo "installing wrk and h2load (Debian packages)..." >&2
  apt-get update -qq > /dev/null && apt-get install -y -qq wrk nghttp2-client > /dev/null
fi
. bench/filters.sh
ENVOY=$(envoy_bin)

if [ -z "${UIDGATE_BIN:-}" ]; then
  cargo build --release --locked --example uid-gate-load --quiet
  UIDGATE_LOAD_BIN=target/release/examples/uid-gate-load
fi
release_builds
: "${UIDGATE_LOAD_BIN:?set UIDGATE_LOAD_BIN together with UIDGATE_BIN}"

bench_setup

start_uid_gate() { # cpu port log -> pid in $ug_pid
  UIDGATE_LISTEN_ADDR=127.0.0.1:$2 UIDGATE_ADMIN_ADDR=127.0.0.1:0 UIDGATE_WORKER_THREADS=1 RUST_LOG=${BENCH_RUST_LOG:-info} \
    taskset -c "$1" "$UIDGATE_BIN" > "$work/$3" 2>&1 &
  ug_pid=$!; pids+=("$ug_pid")
  for _ in $(seq 1 200); do "$UIDGATE_BIN" healthcheck "127.0.0.1:$2" > /dev/null 2>&1 && return 0; sleep 0.02; done
  echo "uid-gate did not start" >&2; exit 1
}

# wrk's latency lines are "50%  812.00us"; print microseconds.
to_us() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/, "", v); print v+0 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v*1000 } else if (v ~ /s$/) { sub(/s$/, "", v); print v*1000000 } }'; }

declare -A RPS P50 P99 CPU ALL_RPS ALL_P50 ALL_P99 ALL_CPU
# Envoy's CPU time (user + system) in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The median over rounds of setup $1's req/s over setup $2's in the same round.
round_ratio() {
  paste <(echo "${ALL_RPS[$1]}" | tr ' ' '\n' | grep .) <(echo "${ALL_RPS[$2]}" | tr ' ' '\n' | grep .) |
    awk '{ printf "%.3f\n", $1 / $2 }' | median
}
run_setup() { # name config [h2|c2]: h2, HTTP/2 downstream (h2load); c2, Envoy --concurrency 2
  local name=$1 config=$2 mode=${3:-} port workers=1 cpus=0
  [ "$mode" = c2 ] && { workers=2; cpus=0,1; }
  port=$(free_port)
  start_envoy "$name" "$config" "$port" "$workers" taskset -c "$cpus"
  local envoy_pid=$ENVOY_PID
  local url="http://127.0.0.1:$port/api/alice/tasks"
  check_setup "${name%%_*}" "$port"
  if [ "$mode" = h2 ]; then
    run_h2load "$name" "$url" "$envoy_pid"
    return
  fi
  taskset -c 1 wrk -t1 -c"$conns" -d1s -H "authorization: Bearer $TOKEN" "$url" > /dev/null # warm-up
  local ticks_before; ticks_before=$(cpu_ticks "$envoy_pid")
  taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -H "authorization: Bearer $TOKEN" "$url" > "$work/wrk-$name.txt"
  local ticks=$(( $(cpu_ticks "$envoy_pid") - ticks_before ))
  local requests; requests=$(awk '/requests in/ { print $1 }' "$work/wrk-$name.txt")
  ALL_CPU[$name]+=" $(awk -v t="$ticks" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1000000 / hz / n }')"
  CPU[$name]=$(echo "${ALL_CPU[$name]}" | median)
  ALL_RPS[$name]+=" $(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/wrk-$name.txt")"
  ALL_P50[$name]+=" $(awk '$1 == "50%" { print $2 }' "$work/wrk-$name.txt" | to_us)"
  ALL_P99[$name]+=" $(awk '$1 == "99%" { print $2 }' "$work/wrk-$name.txt" | to_us)"
  RPS[$name]=$(echo "${ALL_RPS[$name]}" | median)
  P50[$name]=$(echo "${ALL_P50[$name]}" | median)
  P99[$name]=$(echo "${ALL_P99[$name]}" | median)
  local non2xx; non2xx=$(awk '/Non-2xx/ { print $5 }' "$work/wrk-$name.txt")
  [ -z "$non2xx" ] || { echo "$name: $non2xx non-2xx responses under load" >&2; exit 1; }
  kill "$envoy_pid"; wait "$envoy_pid" 2> /dev/null || true
}

# The same measure over HTTP/2 (cleartext, prior knowledge), as gRPC clients and browsers
# talk to Envoy: h2load, 64 connections of 10 streams, its per-request log for percentiles.
run_h2load() { # name url envoy-pid
  local name=$1 url=$2 envoy_pid=$3
  taskset -c 1 h2load -t1 -c"$conns" -m10 -D 1 -H "authorization: Bearer $TOKEN" "$url" > /dev/null # warm-up
  local ticks_before; ticks_before=$(cpu_ticks "$envoy_pid")
  taskset -c 1 h2load -t1 -c"$conns" -m10 -D "$seconds" -H "authorization: Bearer $TOKEN" \
    --log-file="$work/h2load-$name.log" "$url" > "$work/h2load-$name.txt"
  local ticks=$(( $(cpu_ticks "$envoy_pid") - ticks_before ))
  local requests non2xx
  requests=$(awk '/^requests:/ { print $6 }' "$work/h2load-$name.txt")
  non2xx=$(awk '/^status codes:/ { gsub(",", ""); print $5 + $7 + $9 }' "$work/h2load-$name.txt")
  [ "${non2xx:-1}" = 0 ] || { echo "$name: non-2xx responses under HTTP/2 load" >&2; cat "$work/h2load-$name.txt" >&2; exit 1; }
  ALL_CPU[$name]+=" $(awk -v t="$ticks" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1000000 / hz / n }')"
  ALL_RPS[$name]+=" $(awk '/^finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$work/h2load-$name.txt")"
  ALL_P50[$name]+=" $(sort -n -k3 "$work/h2load-$name.log" | awk '{ d[NR] = $3 } END { print d[int(NR * 0.5)] }')"
  ALL_P99[$name]+=" $(sort -n -k3 "$work/h2load-$name.log" | awk '{ d[NR] = $3 } END { print d[int(NR * 0.99)] }')"
  CPU[$name]=$(echo "${ALL_CPU[$name]}" | median)
  RPS[$name]=$(echo "${ALL_RPS[$name]}" | median)
  P50[$name]=$(echo "${ALL_P50[$name]}" | median)
  P99[$name]=$(echo "${ALL_P99[$name]}" | median)
  kill "$envoy_pid"; wait "$envoy_pid" 2> /dev/null || true
}

echo "== uid-gate benchmarks: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), wrk -t1 -c$conns -d${seconds}s, Envoy $("$ENVOY" --version | grep -o '1\.[0-9]*\.[0-9]*' | head -1) --concurrency 1"
[ $smoke = 1 ] && echo "(smoke mode: numbers are not meaningful)"

# Setups 1 and 2 interleaved with the module, BENCH_ROUNDS times; the medians are reported:
# this VM drifts by more than the margins between setups.
module=$(generated module --inline --module "$UIDGATE_MODULE")
null=$(generated null --inline --module "$UIDGATE_NULL_MODULE")
[ "${BENCH_MODULE_PARTS:-0}" != 1 ] || abi=$(generated abi --inline --module "$UIDGATE_ABI_MODULE")
# 7b: the module of another revision, in the same rounds, for a change that must not cost the
# module anything: BENCH_MODULE_BASELINE is that revision's release directory (its uid-gate
# generates the configuration its module reads).
if [ -n "${BENCH_MODULE_BASELINE:-}" ]; then
  baseline=$(UIDGATE_BIN=$BENCH_MODULE_BASELINE/uid-gate generated baseline --inline --module "$BENCH_MODULE_BASELINE/libuid_gate_envoy.so")
fi
for _ in $(seq 1 "$rounds"); do
  run_setup noauth bench/envoy-noauth.yaml
  run_setup jwt bench/envoy-jwt-authn.yaml
  run_setup module "$module"
  run_setup null "$null"
  [ -z "${abi:-}" ] || run_setup abi "$abi"
  [ -z "${baseline:-}" ] || run_setup baseline "$baseline"
done
row() { printf '%-38s %10s %10s %10s %12s\n' "$1" "${RPS[$2]}" "${P50[$2]}" "${P99[$2]}" "${CPU[$2]}"; }
module_rows() {
  row "7. Envoy + uid-gate module" module
  row "   (7a the null module: floor)" null
  [ -z "${abi:-}" ] || {
    row "   (7c reads and writes, no decision)" abi
    awk -v m="${CPU[module]}" -v n="${CPU[null]}" -v a="${CPU[abi]}" \
      'BEGIN { printf "Envoy CPU per request over the null module: %.1f us, of which reads and writes through the ABI (7c-7a) %.1f us and the decision (7-7c) %.1f us\n", m-n, a-n, m-a }'
  }
  [ -z "${baseline:-}" ] || {
    row "   (7b the module of BENCH_MODULE_BASELINE)" baseline
    awk -v m="${RPS[module]}" -v b="${RPS[baseline]}" -v mc="${CPU[module]}" -v bc="${CPU[baseline]}" \
      'BEGIN { printf "ratio 7/7b (this module vs the baseline): %.3f req/s, %.3f Envoy CPU per request\n", m/b, mc/bc }'
  }
}
if [ "${BENCH_MODULE_ONLY:-0}" = 1 ]; then
  # Setups 1, 2, 7, 7a (and 7b) only: a few minutes, for work on the module.
  echo "(medians of $rounds interleaved rounds: 1 =${ALL_RPS[noauth]}; 2 =${ALL_RPS[jwt]}; 7 =${ALL_RPS[module]}; 7a =${ALL_RPS[null]}${abi:+; 7c =${ALL_RPS[abi]}}${baseline:+; 7b =${ALL_RPS[baseline]}})"
  row "1. Envoy, no auth" noauth
  row "2. Envoy + jwt_authn (HS256)" jwt
  module_rows
  awk -v m="${RPS[module]}" -v b="${RPS[jwt]}" -v c="${RPS[noauth]}" -v n="${RPS[null]}" \
    'BEGIN { printf "ratio 7/2 (module vs jwt_authn): %.2f   ratio 7/1 (module vs no auth): %.2f   ratio 7/7a (module vs the null module): %.2f\n", m/b, m/c, m/n }'
  # The same ratios taken within each round (setups minutes apart, not the whole run) and
  # their median: steadier when the VM's speed drifts during the run.
  echo "per round, median: 7/2 $(round_ratio module jwt)   7/1 $(round_ratio module noauth)   7/7a $(round_ratio module null)${baseline:+   7/7b $(round_ratio module baseline)}"
  exit 0
fi
# No auth, jwt_authn and the module again: over HTTP/2, and with two Envoy workers (on both
# CPUs, sharing CPU 1 with the load), each interleaved the same way.
for _ in $(seq 1 "$rounds"); do
  for mode in h2 c2; do
    run_setup "noauth_$mode" bench/envoy-noauth.yaml "$mode"
    run_setup "jwt_$mode" bench/envoy-jwt-authn.yaml "$mode"
    run_setup "module_$mode" "$module" "$mode"
  done
done
ug_port=$(free_port)
start_uid_gate 1 "$ug_port" uid-gate-envoy.log
run_setup uidgate bench/envoy-uid-gate.yaml
kill "$ug_pid"; wait "$ug_pid" 2> /dev/null || true
# Setup 3 again, generated, with Google's C++ gRPC client in Envoy instead of its own.
ug_port=$(free_port)
start_uid_gate 1 "$ug_port" uid-gate-google.log
run_setup google "$(generated google --grpc-client google --authz "127.0.0.1:$ug_port")"
kill "$ug_pid"; wait "$ug_pid" 2> /dev/null || true
# The same, but the path is public to uid-gate: no token work at all. This is the ceiling of
# any ext_authz gRPC service here; the gap to setup 2 is Envoy's own cost of the call.
ug_port=$(free_port)
# (/api alone may be public only when no template lies under it.)
UIDGATE_PUBLIC_PATHS=/api UIDGATE_PATH_TEMPLATES='/users/{user_id}' start_uid_gate 1 "$ug_port" uid-gate-noop.log
run_setup noop bench/envoy-uid-gate.yaml
kill "$ug_pid"; wait "$ug_pid" 2> /dev/null || true
# Setup 3 over Envoy's HTTP ext_authz service and uid-gate's HTTP mode.
ug_port=$(free_port)
http_port=$(free_port)
UIDGATE_HTTP_ADDR=127.0.0.1:$http_port start_uid_gate 1 "$ug_port" uid-gate-http.log
ug_port=$http_port run_setup http bench/envoy-uid-gate-http.yaml
kill "$ug_pid"; wait "$ug_pid" 2> /dev/null || true

echo
[ "$rounds" = 1 ] || echo "(setups 1, 2, 7 and 7a: medians of $rounds interleaved rounds: 1 =${ALL_RPS[noauth]}; 2 =${ALL_RPS[jwt]}; 7 =${ALL_RPS[module]}; 7a =${ALL_RPS[null]})"
printf '%-38s %10s %10s %10s %12s\n' "through Envoy (HTTP/1.1, wrk)" "req/s" "p50 µs" "p99 µs" "Envoy CPU µs"
row "1. Envoy, no auth" noauth
row "2. Envoy + jwt_authn (HS256)" jwt
row "3. Envoy + ext_authz -> uid-gate" uidgate
row "   (3 with a no-op decision: ceiling)" noop
row "4. Envoy + HTTP ext_authz -> uid-gate" http
row "6. as 3, google_grpc client" google
module_rows
awk -v a="${RPS[uidgate]}" -v b="${RPS[jwt]}" -v c="${RPS[noauth]}" -v g="${RPS[google]}" \
  'BEGIN { printf "ratio 3/2 (uid-gate vs jwt_authn): %.2f   ratio 3/1 (uid-gate vs no auth): %.2f   ratio 6/3 (google_grpc vs envoy_grpc): %.2f\n", a/b, a/c, g/a }'
awk -v m="${RPS[module]}" -v b="${RPS[jwt]}" -v c="${RPS[noauth]}" -v a="${RPS[uidgate]}" \
  'BEGIN { printf "ratio 7/2 (module vs jwt_authn): %.2f   ratio 7/1 (module vs no auth): %.2f   ratio 7/3 (module vs ext_authz): %.2f\n", m/b, m/c, m/a }'
for mode in h2 c2; do
  label=$([ "$mode" = h2 ] && echo "HTTP/2 downstream (h2load -m10)" || echo "Envoy --concurrency 2 (wrk)")
  printf '%-38s %10s %10s %10s %12s\n' "$label" "req/s" "p50 µs" "p99 µs" "Envoy CPU µs"
  row "1. Envoy, no auth" "noauth_$mode"
  row "2. Envoy + jwt_authn (HS256)" "jwt_$mode"
  row "7. Envoy + uid-gate module" "module_$mode"
  awk -v m="${RPS[module_$mode]}" -v b="${RPS[jwt_$mode]}" -v c="${RPS[noauth_$mode]}" -v l="$mode" \
    'BEGIN { printf "ratio %s 7/2 (module vs jwt_authn): %.2f   ratio %s 7/1 (module vs no auth): %.2f\n", l, m/b, l, m/c }'
done
awk -v m="${RPS[module]}" -v n="${RPS[null]}" -v c="${RPS[noauth]}" \
  'BEGIN { printf "ratio 7/7a (module vs the null module): %.2f   ratio 7a/1 (null module vs no auth): %.2f\n", m/n, n/c }'

echo
echo "uid-gate alone (gRPC Check, 4 HTTP/2 connections; uid-gate: 1 worker thread on CPU 0; load on CPU 1)"
ug_port=$(free_port)
start_uid_gate 0 "$ug_port" uid-gate-alone.log
"$UIDGATE_LOAD_BIN" encode --addr "127.0.0.1:$ug_port" --out "$work/check.bin" > /dev/null
h2() { # label extra-args...
  local label=$1; shift
  taskset -c 1 h2load -t1 -c4 -D "$seconds" --warm-up-time=1 -d "$work/check.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$work/h2-$label.log" "$@" \
    "http://127.0.0.1:$ug_port/envoy.service.auth.v3.Authorization/Check" > "$work/h2-$label.txt"
  local rps failed
  rps=$(awk '/^finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$work/h2-$label.txt")
  failed=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed/) print $i }' "$work/h2-$label.txt")
  [ "${failed:-0}" = 0 ] || { echo "h2load: $failed failed requests" >&2; cat "$work/h2-$label.txt" >&2; exit 1; }
  # Percentiles from h2load's per-request log (third column: duration in µs).
  sort -n -k3 "$work/h2-$label.log" | awk -v rps="$rps" -v label="$label" '
    { d[NR] = $3 }
    END { printf "  %-8s %7d calls/s   p50 %5d µs   p99 %5d µs   p99.9 %5d µs   (%d calls)\n", label, rps, d[int(NR*0.5)], d[int(NR*0.99)], d[int(NR*0.999)], NR }'
  echo "$rps" > "$work/h2-$label.rps"
}
h2 max -m32
max_rate=$(cat "$work/h2-max.rps")
# h2load's --rps fires every client on the same tick (bursts); uid-gate-load paces calls evenly
# and counts latency from each call's scheduled time.
half=$(taskset -c 1 "$UIDGATE_LOAD_BIN" open --addr "127.0.0.1:$ug_port" --rate $((max_rate / 2)) --seconds "$seconds")
awk -v line="$half" 'BEGIN {
  n = split(line, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
  if (v["errors"] != 0) { print "open-loop errors: " v["errors"] > "/dev/stderr"; exit 1 }
  printf "  %-8s %7d calls/s   p50 %5d µs   p99 %5d µs   p99.9 %5d µs   (%d calls, open loop at half the max)\n", "half", v["rate"], v["p50_us"], v["p99_us"], v["p999_us"], v["calls"] }'
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$ug_pid/status")
echo "  peak RSS of uid-gate: $((rss_kb / 1024)) MiB ($rss_kb kB)"
denials=$(grep -c '"decision":"deny"' "$work/uid-gate-alone.log" || true)
[ "$denials" = 0 ] || { echo "uid-gate denied $denials benchmark requests" >&2; exit 1; }
kill "$ug_pid"; wait "$ug_pid" 2> /dev/null || true

echo
st_port=$(free_port)
echo "start to SERVING: $(taskset -c 0 "$UIDGATE_LOAD_BIN" startup --bin "$UIDGATE_BIN" --addr "127.0.0.1:$st_port" --runs $([ $smoke = 1 ] && echo 3 || echo 20))"

if [ $smoke = 0 ]; then
  echo
  echo "decision function (criterion, cargo bench --bench decision):"
  cargo bench --locked --bench decision -- --noplot 2>/dev/null \
    | awk '/^decide\// { name = $1 } /time:/ { sub(/.*time: */, ""); printf "  %-22s %s\n", name, $0 }'
fi
echo
echo "benchmark complete"
