# Sourced by bench/run.sh.

# bench/envoy-filters.yaml with the HTTP filter list in file $1 (as `uid-gate envoy-config
# --filters-only` prints it) pasted in at __FILTERS__, to stdout. Run from the repository root.
with_filters() {
  sed 's/^/          /' "$1" \
    | awk 'NR == FNR { pasted = pasted $0 "\n"; next } /^__FILTERS__$/ { printf "%s", pasted; next } { print }' \
      - bench/envoy-filters.yaml
}
