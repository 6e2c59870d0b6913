#!/usr/bin/env bash
# The decision micro-benchmark (benches/decision.rs) of another commit and of this tree, side
# by side in one run: both are built in release (the commit in a temporary git worktree, the
# same target directory, so only the workspace crates build twice), then run in turn over
# BENCH_ROUNDS interleaved rounds (5); each case's median of the rounds' estimates and the
# ratio this/other are printed. For restructurings that must not change behaviour or speed
# (issue #20).
#
#   bash bench/decision-vs.sh REF     e.g. a commit before the change
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: bash bench/decision-vs.sh REF}
rounds=${BENCH_ROUNDS:-5}
target=$PWD/target
work=$(mktemp -d)
trap 'git worktree remove --force "$work/other" > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/other" "$ref"
bench_bin() { # dir -> path of the built benchmark executable
  (cd "$1" && CARGO_TARGET_DIR=$target cargo bench --locked --bench decision --no-run \
    --message-format=json 2> /dev/null) |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "decision" and m.get("executable"):
        print(m["executable"])'
}
echo "building the benchmark at $(git rev-parse --short "$ref") and at this tree (release)..." >&2
other=$(bench_bin "$work/other")
this=$(bench_bin "$PWD")
[ -x "$other" ] && [ -x "$this" ] || { echo "a benchmark did not build" >&2; exit 1; }
run() { # label executable -> "label case nanoseconds" lines
  "$2" --bench --noplot --discard-baseline --warm-up-time 1 --measurement-time 3 2> /dev/null |
    python3 -c 'import re, sys
unit = {"ps": 1e-3, "ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
case = None
for line in sys.stdin:
    m = re.match(r"^(decide/\S+)", line)
    if m:
        case = m.group(1)
    t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", line)
    if t and case:
        print(sys.argv[1], case, float(t.group(1)) * unit[t.group(2)])
        case = None' "$1"
}
samples=$(mktemp)
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds" >&2
  run other "$other" >> "$samples"
  run this "$this" >> "$samples"
done
python3 - "$samples" "$(git rev-parse --short "$ref")" << 'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, case, ns = line.split()
    rows.setdefault(case, {}).setdefault(who, []).append(float(ns))
print(f"decision, medians of interleaved rounds: {sys.argv[2]} vs this tree")
print(f"{'case':<28}{sys.argv[2]:>12}{'this':>12}{'this/other':>12}")
for case, by in sorted(rows.items()):
    a, b = statistics.median(by["other"]), statistics.median(by["this"])
    print(f"{case:<28}{a:>10.0f}ns{b:>10.0f}ns{b / a:>12.3f}")
PY
rm -f "$samples"
