#!/usr/bin/env bash
# Clerk's server SDK (@clerk/backend, pinned in package-lock.json) against a real `latch serve`:
#
#   bash tests/backend-sdk/run.sh                 # builds latch (debug) unless LATCH_BIN is set
#   LATCH_BIN=target/release/latch bash tests/backend-sdk/run.sh
#
# Installs the npm packages from the lockfile, runs `node --test` on SQLite and, when
# LATCH_TEST_POSTGRES_URL is set (scripts/postgres-test-db.sh), again on a PostgreSQL database
# of its own, dropped afterwards. A failure on either fails the run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
log() { printf '[backend-sdk] %s\n' "$*" >&2; }

source "$ROOT/tests/latch-bin.sh"
resolve_latch_bin

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)

log "SQLite"
(cd "$HERE" && node --test)

if [ -n "${LATCH_TEST_POSTGRES_URL:-}" ]; then
  db="latch_sdk_$$"
  admin="${LATCH_TEST_POSTGRES_URL%/*}/postgres"
  psql "$admin" -qc "CREATE DATABASE $db" >/dev/null
  trap 'psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  log "PostgreSQL"
  (cd "$HERE" && LATCH_DATABASE_URL="${LATCH_TEST_POSTGRES_URL%/*}/$db" node --test)
fi
