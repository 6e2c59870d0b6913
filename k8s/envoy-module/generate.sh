#!/usr/bin/env bash
# Writes k8s/envoy-module/envoy.yaml, the edge Envoy's configuration with uid-gate's module, from
# the policy in uid-gate.env: `uid-gate envoy-config --inline`, never edited by hand
# (tests/it/deploy_edge.rs regenerates it and compares). Run it after changing uid-gate.env or
# upgrading uid-gate:
#   UIDGATE_BIN=target/debug/uid-gate bash k8s/envoy-module/generate.sh [OUT]
# (OUT: where to write it instead, e.g. to compare).
# The app's Service is `app` on port 8081 in the same namespace; change --upstream for yours.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${UIDGATE_BIN:-uid-gate}
# The generator checks the policy as the module will; a placeholder secret stands in for the
# one Envoy reads at run time (it is not written anywhere).
env -i PATH="$PATH" BETTER_AUTH_SECRET="generate-only-placeholder-secret-32b" \
  $(grep -v '^#' "$here/uid-gate.env" | xargs) \
  "$bin" envoy-config --inline \
  --module /etc/envoy/modules/libuid_gate_envoy.so \
  --listen 0.0.0.0:10000 --probe 0.0.0.0:10001 --admin 127.0.0.1:9901 \
  --upstream app:8081 > "${1:-$here/envoy.yaml}"
echo "wrote ${1:-$here/envoy.yaml}" >&2
