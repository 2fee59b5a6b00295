# Sourced by the Node test suites' run.sh (browser, native, backend-sdk): the one place that
# finds the latch binary they start. LATCH_BIN wins; without it, a debug build of the tree.
# The path is made absolute because each suite's node runs in its own folder.
# Needs ROOT (the repository) and log() from the caller.
resolve_latch_bin() {
  if [ -z "${LATCH_BIN:-}" ]; then
    log "building latch (cargo build -p latch)"
    (cd "$ROOT" && cargo build -q -p latch)
    LATCH_BIN="$ROOT/target/debug/latch"
  fi
  [ -x "$LATCH_BIN" ] || { log "no latch binary at $LATCH_BIN"; exit 1; }
  LATCH_BIN="$(cd "$(dirname "$LATCH_BIN")" && pwd)/$(basename "$LATCH_BIN")"
  export LATCH_BIN
}
