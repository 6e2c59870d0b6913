#!/usr/bin/env bash
# Mutation testing of the decision core (issue #14): cargo-mutants injects bugs into
# crates/uid-gate-core and runs the fast test set (the core's unit tests and the conformance
# table through the core); every mutant must be caught or be listed as equivalent in
# docs/design.md ("Mutation testing").
#
#   bash tests/mutants.sh               every mutant of the core (~20 min on 2 cores)
#   bash tests/mutants.sh --in-diff REF only mutants in lines changed since git REF (CI)
#
# Results go to target/mutants/mutants.out (caught.txt, missed.txt, unviable.txt, timeout.txt).
# Exit status: 0 when no mutant was missed (or none was in the diff), non-zero otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
version=27.1.0
if ! cargo mutants --version 2> /dev/null | grep -q "$version"; then
  echo "installing cargo-mutants $version from crates.io (a few minutes, once)..." >&2
  cargo install --locked --quiet "cargo-mutants@$version"
fi
args=(--package uid-gate-core --test-package uid-gate-core --no-shuffle
  --output target/mutants --jobs "${MUTANTS_JOBS:-2}" --minimum-test-timeout 20)
if [ "${1:-}" = "--in-diff" ]; then
  diff=$(mktemp)
  trap 'rm -f "$diff"' EXIT
  git diff "${2:?--in-diff needs a git ref}" -- crates/uid-gate-core/src > "$diff"
  if [ ! -s "$diff" ]; then
    echo "mutants: no change in crates/uid-gate-core/src since ${2}; nothing to test"
    exit 0
  fi
  args+=(--in-diff "$diff")
fi
set +e
cargo mutants "${args[@]}"
status=$?
set -e
out=target/mutants/mutants.out
count() { if [ -f "$out/$1.txt" ]; then wc -l < "$out/$1.txt"; else echo 0; fi; }
for kind in caught missed timeout unviable; do
  printf '%-9s %s\n' "$kind" "$(count "$kind")"
done
# cargo-mutants exits 0 when every mutant was caught, 2 when some were missed, 3 when some
# only timed out. A timeout is a mutant that made the tests hang: detected. Anything else
# (4: the unmutated tree fails its tests) is a failure.
missed=$(count missed)
if [ "$missed" -gt 0 ]; then
  echo "missed mutants:" && cat "$out/missed.txt"
  exit 2
fi
case $status in 0 | 3) exit 0 ;; *) exit "$status" ;; esac
