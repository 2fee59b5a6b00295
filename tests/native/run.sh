#!/usr/bin/env bash
# Native-app tests without devices (docs/protocol.md §13.5), self-contained for CI:
#
#   bash tests/native/run.sh             # builds latch (debug) unless LATCH_BIN is set
#   LATCH_BIN=target/release/latch bash tests/native/run.sh [extra `node --test` args]
#
# Installs the pinned npm packages (npm ci: @clerk/expo 4.6.6, @clerk/clerk-js 6.40.0,
# @clerk/expo-passkeys 2.0.0, and the react-native / expo / expo-secure-store stubs in stubs/),
# then runs `node --test` under --conditions=react-native (so @clerk/clerk-js resolves to its
# native build, as Metro resolves it): the Expo suites in iOS and Android mode, and the
# ClerkKit 1.4.1 / clerk-android 1.1.3 replays. Each test file starts its own `latch serve`:
# on SQLite, then, when LATCH_TEST_POSTGRES_URL names a PostgreSQL test database, on it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
log() { printf '[native-tests] %s\n' "$*" >&2; }

command -v node >/dev/null || { log "node is required (Debian: apt-get install nodejs npm)"; exit 1; }
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts --legacy-peer-deps)

source "$ROOT/tests/latch-bin.sh"
resolve_latch_bin

cd "$HERE"
run_suite() {
  # NODE_OPTIONS reaches the per-file processes node --test starts.
  NODE_OPTIONS="--conditions=react-native${NODE_OPTIONS:+ $NODE_OPTIONS}" \
    node --test --test-concurrency=1 --test-reporter=spec "$@" ./*.test.mjs
}
log "on SQLite"
run_suite "$@"
# With a PostgreSQL test database (scripts/test-all.sh exports one), once more on it.
if [ -n "${LATCH_TEST_POSTGRES_URL:-}" ]; then
  log "on PostgreSQL"
  LATCH_NATIVE_DATABASE_URL="$LATCH_TEST_POSTGRES_URL" run_suite "$@"
fi
