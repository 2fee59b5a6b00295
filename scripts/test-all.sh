#!/usr/bin/env bash
# Runs every test of Latch, installing what they need first (on a Debian machine, as root):
#   - Rust unit, vector and HTTP integration tests (cargo nextest or cargo test), against the
#     embedded SQLite and against the machine's local PostgreSQL (started here);
#   - real-browser tests of the Clerk SDK and of Latch's pages (Debian chromium, npm packages);
#   - Clerk's server SDK (@clerk/backend) against the binary: tokens, authenticateRequest, BAPI;
#   - the Next.js example (@clerk/nextjs: middleware, auth(), currentUser(), the handshake) in Chromium;
#   - native-app tests: the real @clerk/expo JS under Node, ClerkKit / clerk-android replays (npm);
#   - a short cargo-fuzz run of each parser that takes client bytes (docs/fuzzing.md).
# Nothing is skipped silently: a missing prerequisite that cannot be installed fails the run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { printf '\n[test-all] %s\n' "$*" >&2; }

# ---- PostgreSQL: start the local cluster and make a throwaway database ----
source "$ROOT/scripts/postgres-test-db.sh"
start_test_postgres
export LATCH_TEST_POSTGRES_URL

# ---- Rust tests ----
log "building"
cargo build --workspace --all-targets
run_tests() {
  if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
  else
    cargo test --no-fail-fast "$@"
  fi
}
# Every suite runs even when an earlier one failed; the exit status says whether all passed.
failed=()
log "Rust tests (SQLite)"
run_tests --workspace || failed+=("rust-sqlite")
# The same black-box suite, one harness, on PostgreSQL: each test gets a database of its own.
log "Rust HTTP tests on PostgreSQL"
LATCH_TEST_BACKEND=postgres run_tests -p latch || failed+=("rust-postgres")

# ---- Browser tests (installs chromium and npm packages itself) ----
log "browser tests"
LATCH_BIN="$ROOT/target/debug/latch" bash "$ROOT/tests/browser/run.sh" || failed+=("browser")

# ---- Clerk's server SDK against the real binary, SQLite and PostgreSQL (installs its npm packages) ----
log "backend SDK tests"
LATCH_BIN="$ROOT/target/debug/latch" bash "$ROOT/tests/backend-sdk/run.sh" || failed+=("backend-sdk")
# ---- The Next.js example (next build + next start, @clerk/nextjs) in Chromium, SQLite and PostgreSQL ----
log "Next.js example tests"
LATCH_BIN="$ROOT/target/debug/latch" bash "$ROOT/tests/nextjs/run.sh" || failed+=("nextjs")
# ---- Native apps without devices: the real @clerk/expo JS, ClerkKit / clerk-android replays ----
log "native-app tests"
LATCH_BIN="$ROOT/target/debug/latch" bash "$ROOT/tests/native/run.sh" || failed+=("native")

# ---- A short fuzzing run of every parser that takes client bytes (installs cargo-fuzz) ----
log "fuzz smoke"
bash "$ROOT/scripts/fuzz-smoke.sh" || failed+=("fuzz")

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all tests passed"
