#!/usr/bin/env bash
# Prints the version every artifact carries: the workspace's (Cargo.toml, [workspace.package]),
# the one `version = "..."` line at the start of a line there. Used by release/build.sh,
# release/check.sh and envoy/demo.sh.
set -euo pipefail
sed -n 's/^version = "\([^"]*\)"$/\1/p' "$(dirname "$0")/../Cargo.toml"
