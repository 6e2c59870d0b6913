#!/usr/bin/env bash
# The module's ratios to its peers, timed in pairs: two Envoys pinned to the same CPU and
# loaded at the same time (two wrk on the other CPU), so that whatever the VM does to the CPU's
# speed it does to both. Each reports the Envoy CPU time it took for the requests it served;
# the ratio of the two per-request costs is the figure. (bench/run.sh times the setups one
# after another: on a VM whose speed changes within seconds its ratios swing by 20 %, where
# these stay within about 1 %.)
#
# Pairs, each run in both orders every round (which wrk starts first), every round with Envoys
# started afresh, medians reported:
#   7/7a the module against the null module (the mechanism's floor)
#   7/1  the module against Envoy with no auth
#   7/2  the module against jwt_authn (HS256)
#   7a/2 the null module against jwt_authn (the most any module can reach)
#   7/7b the module against BENCH_MODULE_BASELINE's (another revision's release directory)
#
#   bash bench/paired.sh           release builds, then about 5 minutes (3 rounds of 8 s pairs)
#   bash bench/paired.sh --smoke   2 rounds of 1 s pairs (tests/it/bench_smoke.rs)
#
# Environment: BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64), and the builds'
# variables of bench/filters.sh (release_builds).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
# Two rounds in smoke mode, so that stopping and starting the Envoys between rounds runs too.
if [ $smoke = 1 ]; then seconds=1; rounds=2; conns=8; fi

command -v wrk > /dev/null || { apt-get update -qq > /dev/null && apt-get install -y -qq wrk > /dev/null; }
. bench/filters.sh
ENVOY=$(envoy_bin)
release_builds

bench_setup

declare -A CONFIG PORT PID RATIOS
CONFIG[noauth]=bench/envoy-noauth.yaml
CONFIG[jwt]=bench/envoy-jwt-authn.yaml
CONFIG[module]=$(generated module --inline --module "$UIDGATE_MODULE")
CONFIG[null]=$(generated null --inline --module "$UIDGATE_NULL_MODULE")
setups=(noauth jwt module null)
if [ -n "${BENCH_MODULE_BASELINE:-}" ]; then
  CONFIG[baseline]=$(UIDGATE_BIN=$BENCH_MODULE_BASELINE/uid-gate generated baseline --inline --module "$BENCH_MODULE_BASELINE/libuid_gate_envoy.so")
  setups+=(baseline)
fi

url() { echo "http://127.0.0.1:${PORT[$1]}/api/alice/tasks"; }
# Every round starts its own Envoys, on CPU 0, each checked for the answers it gives and warmed
# up, and stops them at its end: a process's memory layout (ASLR, the pages it gets) moves its
# speed by a few per cent for as long as it runs, the same way for every pairing it is in, so
# only fresh processes make the rounds independent samples (with the same Envoys throughout,
# two runs of the same builds differed by 2.5 %).
start_envoys() {
  for name in "${setups[@]}"; do
    PORT[$name]=$(free_port)
    start_envoy "$name" "${CONFIG[$name]}" "${PORT[$name]}" 1 taskset -c 0
    PID[$name]=$ENVOY_PID
  done
  for name in "${setups[@]}"; do
    check_setup "$name" "${PORT[$name]}"
    taskset -c 1 wrk -t1 -c"$conns" -d1s -H "authorization: Bearer $TOKEN" "$(url "$name")" > /dev/null # warm-up
  done
}
stop_envoys() {
  for name in "${setups[@]}"; do kill "${PID[$name]}"; wait "${PID[$name]}" 2> /dev/null || true; done
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Loads a and b at once; adds a's Envoy CPU per request over b's to RATIOS[a/b].
pair() { # a b
  local a=$1 b=$2 ta tb wa wb na nb
  ta=$(ticks "${PID[$a]}"); tb=$(ticks "${PID[$b]}")
  taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" -H "authorization: Bearer $TOKEN" "$(url "$a")" > "$work/wrk-a" & wa=$!
  taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" -H "authorization: Bearer $TOKEN" "$(url "$b")" > "$work/wrk-b" & wb=$!
  wait "$wa" "$wb"
  ta=$(( $(ticks "${PID[$a]}") - ta )); tb=$(( $(ticks "${PID[$b]}") - tb ))
  for f in "$work/wrk-a" "$work/wrk-b"; do
    ! grep -q Non-2xx "$f" || { echo "non-2xx responses under load ($a, $b)" >&2; cat "$f" >&2; exit 1; }
  done
  na=$(awk '/requests in/ { print $1 }' "$work/wrk-a"); nb=$(awk '/requests in/ { print $1 }' "$work/wrk-b")
  RATIOS[$a/$b]+=" $(awk -v ta="$ta" -v tb="$tb" -v na="$na" -v nb="$nb" 'BEGIN { printf "%.3f", (ta / na) / (tb / nb) }')"
}
# Both orders: a/b from (a, b), and from (b, a) as its inverse.
both() { # a b
  pair "$1" "$2"
  pair "$2" "$1"
  local back=${RATIOS[$2/$1]##* }
  RATIOS[$2/$1]=${RATIOS[$2/$1]% *}
  RATIOS[$1/$2]+=" $(awk -v r="$back" 'BEGIN { printf "%.3f", 1 / r }')"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== the module in pairs: two Envoys 1.40 on CPU 0 at once, wrk -t1 -c$conns -d${seconds}s each on CPU 1, $rounds rounds of fresh Envoys, both orders"
[ $smoke = 1 ] && echo "(smoke mode: ratios are not meaningful)"
for _ in $(seq 1 "$rounds"); do
  start_envoys
  both null module
  both noauth module
  both jwt module
  both jwt null
  [ -z "${BENCH_MODULE_BASELINE:-}" ] || both baseline module
  stop_envoys
done
row() { # label a/b
  printf '%-58s %6s   (%s )\n' "$1" "$(echo "${RATIOS[$2]}" | median)" "${RATIOS[$2]}"
}
echo "ratio: Envoy CPU per request of the first over the second (the second's speed over the first's); median, then every pairing"
row "7a/7  the null module over the module" null/module
row "1/7   no auth over the module" noauth/module
row "2/7   jwt_authn over the module" jwt/module
row "2/7a  jwt_authn over the null module (a module's best)" jwt/null
[ -z "${BENCH_MODULE_BASELINE:-}" ] || row "7b/7  the baseline module over this one" baseline/module
echo "paired measure complete"
