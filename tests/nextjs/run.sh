#!/usr/bin/env bash
# The Next.js example (examples/nextjs-passkeys: next build, then next start) against a real
# `latch serve`, in headless Debian Chromium with virtual WebAuthn authenticators:
#
#   bash tests/nextjs/run.sh            # builds latch (debug) unless LATCH_BIN is set
#   LATCH_BIN=target/release/latch bash tests/nextjs/run.sh [extra `node --test` args]
#
# Installs Debian's chromium if /usr/bin/chromium is missing, runs `npm ci` for the example and
# the tests, builds the example once, then for SQLite and, when LATCH_TEST_POSTGRES_URL is set
# (scripts/postgres-test-db.sh), again on a PostgreSQL database of its own (dropped afterwards):
# creates a secret key, starts Latch (short-lived tokens) and `next start`, and runs
# `node --test`. A failure on either database fails the run. Artefacts (screenshots of
# failures, server logs) go to tests/nextjs/test-results/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
EXAMPLE="$ROOT/examples/nextjs-passkeys"
OUT="${TEST_OUTPUT_DIR:-$HERE/test-results}"
rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/latch-nextjs.XXXXXX")
PIDS=()
PG_DB=""

log() { printf '[nextjs-tests] %s\n' "$*" >&2; }

stop_servers() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  stop_servers
  cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for f in "$WORK"/*.log; do
      [ -s "$f" ] || continue
      log "---- last lines of $(basename "$f") ----"
      tail -n 40 "$f" >&2 || true
    done
  fi
  if [ -n "$PG_DB" ]; then
    psql "${LATCH_TEST_POSTGRES_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
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

# ---- 2. npm packages (exact, from the lockfiles) and the example's production build ----
# Latch's issuer for this suite: a dotted name (Clerk's SDKs refuse a publishable key whose host
# has none), never contacted: the browser reaches Latch through the app's /__clerk proxy and the
# app's server through CLERK_API_URL / CLERK_FAPI_URL. The publishable key is derived from it.
ISSUER="https://clerk.latch.localhost"
PUBLISHABLE_KEY="pk_live_$(printf '%s$' "${ISSUER#https://}" | base64 -w0)"
export NEXT_TELEMETRY_DISABLED=1
# What `next build` inlines into the pages (NEXT_PUBLIC_*): the same for every run below.
export NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY="$PUBLISHABLE_KEY"
export NEXT_PUBLIC_CLERK_PROXY_URL=/__clerk
export NEXT_PUBLIC_CLERK_JS_URL=/clerk-js/clerk.browser.js
export NEXT_PUBLIC_CLERK_PREFETCH_UI=false
export NEXT_PUBLIC_CLERK_SIGN_IN_URL=/sign-in
export NEXT_PUBLIC_CLERK_SIGN_UP_URL=/sign-up
export NEXT_PUBLIC_CLERK_TELEMETRY_DISABLED=1

NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
(cd "$EXAMPLE" && npm ci "${NPM_FLAGS[@]}")
(cd "$HERE" && npm ci "${NPM_FLAGS[@]}")
log "next build"
(cd "$EXAMPLE" && npm run --silent build >"$WORK/next-build.log" 2>&1) || {
  cat "$WORK/next-build.log" >&2
  exit 1
}

# ---- 3. the Latch binary ----
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

# Tokens live 30 s (the least Latch allows), so the suite can wait one out.
TOKEN_TTL_SECS=30

# run_suite NAME [latch database args...]: Latch + next start on fresh ports, then the tests.
run_suite() {
  local name=$1
  shift
  local data="$WORK/data-$name" app_port latch_pid next_pid latch_url secret_key pk webhook_secret
  mkdir -p "$data"
  local db_args=(--data-dir "$data" --issuer "$ISSUER" "$@")
  secret_key=$("$LATCH_BIN" keys create --label nextjs-tests "${db_args[@]}" 2>"$WORK/keys-$name.log") || return 1
  pk=$("$LATCH_BIN" keys publishable "${db_args[@]}")
  [ "$pk" = "$PUBLISHABLE_KEY" ] || { log "latch's publishable key $pk is not the one the app was built with ($PUBLISHABLE_KEY)"; return 1; }

  app_port=$(free_port)
  # The app's webhook route, as an operator adds it: Latch prints its signing secret once.
  webhook_secret=$("$LATCH_BIN" webhooks add "http://localhost:$app_port/api/webhooks" "${db_args[@]}" 2>>"$WORK/keys-$name.log") || return 1
  "$LATCH_BIN" serve --port 0 "${db_args[@]}" --origin "http://localhost:$app_port" \
    --token-ttl-secs "$TOKEN_TTL_SECS" >"$WORK/latch-$name.log" 2>&1 &
  latch_pid=$!
  PIDS+=("$latch_pid")
  latch_url=$(wait_for_line "$WORK/latch-$name.log" 'latch listening on http://[^ ]+' "$latch_pid" 60 | sed 's/^latch listening on //')
  [ -n "$latch_url" ] || return 1

  # The app's server: Latch's Backend API, and the Frontend API its /__clerk proxy forwards to.
  (cd "$EXAMPLE" && CLERK_SECRET_KEY="$secret_key" CLERK_API_URL="$latch_url/bapi" CLERK_FAPI_URL="$latch_url" \
    CLERK_WEBHOOK_SIGNING_SECRET="$webhook_secret" WEBHOOK_LOG_READABLE=1 \
    exec ./node_modules/.bin/next start -p "$app_port") >"$WORK/next-$name.log" 2>&1 &
  next_pid=$!
  PIDS+=("$next_pid")
  wait_for_line "$WORK/next-$name.log" 'Ready in' "$next_pid" 60 >/dev/null || return 1
  log "$name: app http://localhost:$app_port -> latch $latch_url"

  (cd "$HERE" && APP_URL="http://localhost:$app_port" LATCH_URL="$latch_url" SECRET_KEY="$secret_key" \
    TOKEN_TTL_SECS="$TOKEN_TTL_SECS" TEST_OUTPUT_DIR="$OUT/$name" \
    node --test --test-concurrency=1 --test-reporter=spec "${NODE_TEST_ARGS[@]}" ./*.test.mjs)
  local rc=$?
  stop_servers
  return "$rc"
}

NODE_TEST_ARGS=("$@")
failed=()
log "SQLite"
run_suite sqlite || failed+=(sqlite)

if [ -n "${LATCH_TEST_POSTGRES_URL:-}" ]; then
  PG_DB="latch_nextjs_$$"
  psql "${LATCH_TEST_POSTGRES_URL%/*}/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
  log "PostgreSQL"
  run_suite postgres --database-url "${LATCH_TEST_POSTGRES_URL%/*}/$PG_DB" || failed+=(postgres)
fi

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED on: ${failed[*]}"
  exit 1
fi
log "passed"
