#!/usr/bin/env bash
# Browser tests: the Clerk SDK (examples/react-passkeys) against a real `latch serve`, in
# headless Debian Chromium with a virtual WebAuthn authenticator. Self-contained for CI:
#
#   bash tests/browser/run.sh            # builds latch (debug) unless LATCH_BIN is set
#   LATCH_BIN=target/release/latch bash tests/browser/run.sh [extra `node --test` args]
#
# Installs Debian's chromium if /usr/bin/chromium is missing, runs `npm ci` for the example and
# the tests, builds the example, starts Latch (--port 0) and the same-origin proxy, runs
# `node --test`, and stops everything it started. Artefacts (screenshots of failures, server
# logs) go to tests/browser/test-results/. With LATCH_TEST_POSTGRES_URL set (scripts/test-all.sh
# sets it), the scenarios that start their own Latch run a second time on PostgreSQL.
# domains.test.mjs (RP ID, subdomains, related origins,
# the account portal) starts its own Latches and a TLS listener on 127.0.0.1:443 (needs root).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
EXAMPLE="$ROOT/examples/react-passkeys"
OUT="${TEST_OUTPUT_DIR:-$HERE/test-results}"
export TEST_OUTPUT_DIR="$OUT"
rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/latch-browser.XXXXXX")
PIDS=()

log() { printf '[browser-tests] %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for f in "$WORK"/*.log; do
      [ -s "$f" ] || continue
      log "---- last lines of $(basename "$f") ----"
      tail -n 40 "$f" >&2 || true
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# ---- 1. Chromium (Debian's; never a downloaded browser build) ----
CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_BIN" ]; then
  log "installing Debian chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM_BIN
log "$("$CHROMIUM_BIN" --version 2>/dev/null || echo chromium)"

# ---- 2. npm packages (exact, from the lockfiles) and the example build ----
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
(cd "$EXAMPLE" && npm ci "${NPM_FLAGS[@]}")
(cd "$HERE" && npm ci "${NPM_FLAGS[@]}")
(cd "$EXAMPLE" && npm run --silent build >"$WORK/vite-build.log" 2>&1) || {
  cat "$WORK/vite-build.log" >&2
  exit 1
}

# ---- 3. the Latch binary ----
# domains.test.mjs starts its own `latch serve`s
source "$ROOT/tests/latch-bin.sh"
resolve_latch_bin

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# wait_for_line FILE REGEX PID SECONDS -> prints the first match
wait_for_line() {
  local file=$1 re=$2 pid=$3 secs=$4 i line
  for ((i = 0; i < secs * 10; i++)); do
    line=$(grep -m1 -oE "$re" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { log "process $pid exited before printing /$re/ into $(basename "$file")"; return 1; }
    sleep 0.1
  done
  log "timed out waiting for /$re/ in $(basename "$file")"
  return 1
}

# start_pair NAME [extra latch args...] -> sets PAIR_APP_URL and PAIR_LATCH_URL
start_pair() {
  local name=$1
  shift
  local port latch_pid proxy_pid latch_url
  port=${APP_PORT_OVERRIDE:-$(free_port)}
  APP_PORT_OVERRIDE=
  mkdir -p "$WORK/data-$name"
  "$LATCH_BIN" serve --port 0 --data-dir "$WORK/data-$name" --origin "http://localhost:$port" "$@" \
    >"$WORK/latch-$name.log" 2>&1 &
  latch_pid=$!
  PIDS+=("$latch_pid")
  latch_url=$(wait_for_line "$WORK/latch-$name.log" 'latch listening on http://[^ ]+' "$latch_pid" 60 | sed 's/^latch listening on //')
  [ -n "$latch_url" ] || return 1
  LATCH_URL="$latch_url" PORT="$port" node "$EXAMPLE/server.mjs" >"$WORK/proxy-$name.log" 2>&1 &
  proxy_pid=$!
  PIDS+=("$proxy_pid")
  wait_for_line "$WORK/proxy-$name.log" 'example listening on' "$proxy_pid" 20 >/dev/null
  PAIR_APP_URL="http://localhost:$port"
  PAIR_LATCH_URL="$latch_url"
  log "$name: app $PAIR_APP_URL -> latch $PAIR_LATCH_URL"
}

# ---- 4. Latch + proxy ----
APP_PORT_OVERRIDE="${APP_PORT:-}"
start_pair main
export APP_URL="$PAIR_APP_URL" LATCH_URL="$PAIR_LATCH_URL"

# A second pair whose new sessions are `pending` with a task, if this latch supports it.
if "$LATCH_BIN" serve --help 2>/dev/null | grep -q -- '--session-task'; then
  start_pair task --session-task choose-organization
  export APP_URL_TASK="$PAIR_APP_URL"
else
  log "latch serve has no --session-task: the pending-session scenario is skipped"
fi

# ---- 5. the tests ----
cd "$HERE"
status=0
node --test --test-concurrency=1 --test-reporter=spec "$@" ./*.test.mjs || status=$?

# ---- 6. the passkey-lifecycle scenarios again on PostgreSQL ----
# The files whose scenarios start their own Latch (Signal API and upgrade, lockout, the
# console and PRF; docs/protocol.md §17, §20-§22), each Latch on a database of its own.
if [ -n "${LATCH_TEST_POSTGRES_URL:-}" ]; then
  log "again on PostgreSQL: signals, lockout, console"
  LATCH_BROWSER_POSTGRES_URL="$LATCH_TEST_POSTGRES_URL" \
    node --test --test-concurrency=1 --test-reporter=spec "$@" signals.test.mjs lockout.test.mjs console.test.mjs || status=$?
fi
exit "$status"
