#!/usr/bin/env bash
# Builds the `uid-gate` Python wheel (abi3: one wheel for CPython 3.9+) with maturin from the
# project venv, installs it into that venv, and prints the wheel's path.
#   bash python/build.sh            then, into your own venv: pip install target/wheels/uid_gate-*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash .ci/venv.sh --dev)
mkdir -p target
# Tests may build at the same time; one build and install at a time.
exec 8> target/.wheel.lock
command -v flock > /dev/null && flock 8
"$venv/bin/maturin" build --manifest-path python/Cargo.toml --out target/wheels \
  --interpreter "$venv/bin/python" --locked >&2
wheel=$(ls -t target/wheels/uid_gate-*.whl | head -1)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel" >&2
echo "$wheel"
