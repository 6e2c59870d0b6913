#!/usr/bin/env bash
# Envoy's instructions per request, counted by valgrind's callgrind, for setups 1 (no auth),
# 2 (jwt_authn), 7 (the module), 7a (the null module), 7c (the module's reads and writes, no
# decision) and, with BENCH_MODULE_BASELINE (another revision's release directory), 7b: the
# same count whatever else the machine is doing, where bench/run.sh's req/s drift with the VM.
#
# Each Envoy runs under callgrind with counting off; after a warm-up, counting is switched on,
# N requests go over one keep-alive connection (`GET /api/alice/tasks` with a valid token, each
# checked for 200), and the count is dumped. Counts are not time: under valgrind SHA-256 runs
# in software (the CPU's SHA extensions are not emulated), so the module's HMAC counts many
# more instructions than it costs on hardware. The modules are built with symbols (the
# `profiling` profile), so the script reports the module's SHA-256 apart and the ratios
# without it too.
#
#   bash bench/instructions.sh            # profiling builds, then about two minutes
#   bash bench/instructions.sh --smoke    # 50 requests each (tests/it/bench_smoke.rs)
#
# UIDGATE_BIN (it generates the configurations and mints the token), UIDGATE_MODULE,
# UIDGATE_NULL_MODULE and UIDGATE_ABI_MODULE skip the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
n=${BENCH_REQUESTS:-2000}
[ $smoke = 1 ] && n=50

command -v valgrind > /dev/null || { apt-get update -qq > /dev/null && apt-get install -y -qq valgrind > /dev/null; }
. bench/filters.sh
ENVOY=$(envoy_bin)
if [ -z "${UIDGATE_BIN:-}" ]; then
  cargo build --release --locked --bin uid-gate --quiet
  UIDGATE_BIN=target/release/uid-gate
fi
if [ -z "${UIDGATE_MODULE:-}" ]; then
  cargo build --profile profiling --locked -p uid-gate-envoy --quiet
  UIDGATE_MODULE=target/profiling/libuid_gate_envoy.so
fi
[ -n "${UIDGATE_ABI_MODULE:-}" ] || UIDGATE_ABI_MODULE=$(variant profiling bench-abi-filter)
[ -n "${UIDGATE_NULL_MODULE:-}" ] || UIDGATE_NULL_MODULE=$(variant profiling bench-null-filter)

bench_setup

cat > "$work/load.py" << 'EOF'
import http.client, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(n):
    c.request("GET", "/api/alice/tasks", headers={"authorization": f"Bearer {token}"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
EOF

declare -A COUNT SHA
count() { # name config -> Envoy's instructions per request (and its SHA-256's, in SHA[name])
  local name=$1 config=$2 port out
  port=$(free_port)
  out=$work/cg.$name
  start_envoy "$name" "$config" "$port" 1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out"
  local pid=$ENVOY_PID
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "http://127.0.0.1:$port/api/alice/tasks" -H "authorization: Bearer $TOKEN" && break
    sleep 0.5
  done
  python3 "$work/load.py" "$port" "$TOKEN" 100 # warm-up
  callgrind_control -i on "$pid" > /dev/null 2>&1
  python3 "$work/load.py" "$port" "$TOKEN" "$n"
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill "$pid"; wait "$pid" 2> /dev/null || true
  # Every thread's dump of the counted stretch (callgrind numbers them .1, .2, ...).
  local files=("$out".[0-9]*)
  COUNT[$name]=$(for f in "${files[@]}"; do callgrind_annotate "$f" 2> /dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; done | awk -v n="$n" '{ s += $1 } END { printf "%.0f", s / n }')
  SHA[$name]=$(for f in "${files[@]}"; do callgrind_annotate --inclusive=yes "$f" 2> /dev/null | awk '/sha2::sha256::compress256/ && !done { gsub(",", "", $1); print $1; done = 1 }'; done | awk -v n="$n" '{ s += $1 } END { printf "%.0f", s / n }')
}

echo "== Envoy's instructions per request under callgrind: $n requests each, Envoy $("$ENVOY" --version | grep -o '1\.[0-9]*\.[0-9]*' | head -1) --concurrency 1"
[ $smoke = 1 ] && echo "(smoke mode: counts are not meaningful)"
count noauth bench/envoy-noauth.yaml
count jwt bench/envoy-jwt-authn.yaml
count module "$(generated module --inline --module "$UIDGATE_MODULE")"
count null "$(generated null --inline --module "$UIDGATE_NULL_MODULE")"
count abi "$(generated abi --inline --module "$UIDGATE_ABI_MODULE")"
if [ -n "${BENCH_MODULE_BASELINE:-}" ]; then
  count baseline "$(UIDGATE_BIN=$BENCH_MODULE_BASELINE/uid-gate generated baseline --inline --module "$BENCH_MODULE_BASELINE/libuid_gate_envoy.so")"
fi
row() { printf '%-44s %12s %14s\n' "$1" "${COUNT[$2]}" "${SHA[$2]:-0}"; }
printf '%-44s %12s %14s\n' "setup" "instr/req" "of it SHA-256"
row "1. Envoy, no auth" noauth
row "2. Envoy + jwt_authn (HS256)" jwt
row "7. Envoy + uid-gate module" module
row "   (7a the null module: floor)" null
row "   (7c reads and writes, no decision)" abi
[ -z "${BENCH_MODULE_BASELINE:-}" ] || row "   (7b the module of BENCH_MODULE_BASELINE)" baseline
# SHA-256 as the CPU runs it: the blocks an HMAC of the token needs (the keyed state is built
# once, so the message and its padding, then one outer block) times the instructions of the
# SHA-extensions loop in this build (bench/sha_block.py).
signing_input=${TOKEN%.*}
blocks=$(( (${#signing_input} + 9 + 63) / 64 + 1 ))
per_block=$(python3 bench/sha_block.py "$UIDGATE_MODULE")
awk -v m="${COUNT[module]}" -v s="${SHA[module]}" -v n="${COUNT[null]}" -v a="${COUNT[abi]}" -v c="${COUNT[noauth]}" -v j="${COUNT[jwt]}" \
  -v b="$blocks" -v p="$per_block" 'BEGIN {
  printf "over the null module: %d instructions a request; reads and writes (7c-7a) %d, the decision (7-7c) %d, of which SHA-256 in software %d\n", m-n, a-n, m-a, s
  h = m - s + b * p
  printf "SHA-256 as this CPU runs it: %d blocks x %d instructions (SHA extensions) = %d, where valgrind ran %d a block; the module then: %d\n", b, p, b * p, s / b, h
  printf "ratio 7a/7 (the null module over the module, as if time were instructions): %.3f counted, %.3f with SHA-256 as the CPU runs it\n", n/m, n/h
  printf "ratio 1/7 (no auth over the module): %.3f counted, %.3f with SHA-256 as the CPU runs it\n", c/m, c/h
  printf "ratio 2/7 (jwt_authn over the module): %.3f counted (both HMACs in software under valgrind)\n", j/m
}'
[ -z "${BENCH_MODULE_BASELINE:-}" ] || awk -v m="${COUNT[module]}" -v b="${COUNT[baseline]}" \
  'BEGIN { printf "ratio 7/7b (this module over the baseline): %.3f\n", m/b }'
echo "instruction count complete"
