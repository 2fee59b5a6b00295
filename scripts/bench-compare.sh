#!/usr/bin/env bash
# Side by side, in one run: the sign-in loops/s of two `latch` binaries on SQLite and on
# PostgreSQL, each run against a fresh server and a fresh database, loaded by one generator,
# the four runs one after the other and the whole repeated ROUNDS times (runs of one binary
# differ by several per cent on a shared 2-core machine: compare within a round).
#
#   scripts/bench-compare.sh GENERATOR BASE_LATCH NEW_LATCH [ROUNDS] [USERS] [SECONDS]
#
# GENERATOR is a `latch-bench` binary; BASE_LATCH and NEW_LATCH are `latch` binaries (e.g. a
# release build of an older commit, and target/release/latch). PostgreSQL is the machine's
# local cluster (scripts/postgres-test-db.sh starts it). Prints one line per run and a table.
set -euo pipefail
GEN=$1 BASE=$2 NEW=$3 ROUNDS=${4:-2} USERS=${5:-500} SECONDS_EACH=${6:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/postgres-test-db.sh"
start_test_postgres
PORT=18190
NO_LIMITS=(--rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 --rate-limit-sign-ups-per-hour 0)

# run BINARY BACKEND: prints "loops/s server-µs-per-loop errors"
run() {
  local bin=$1 backend=$2 dir db_args=() pid
  dir=$(mktemp -d)
  if [ "$backend" = postgres ]; then
    local name="latch_cmp_$$_$RANDOM"
    psql -q "$LATCH_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
    db_args=(--database-url "${LATCH_TEST_POSTGRES_URL%/*}/$name")
  fi
  "$bin" serve --port "$PORT" --data-dir "$dir" "${db_args[@]}" "${NO_LIMITS[@]}" >"$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "latch listening" "$dir/server.log" && break; sleep 0.1; done
  "$GEN" --url "http://127.0.0.1:$PORT" --users "$USERS" --concurrency 8 --duration "$SECONDS_EACH" \
    --scenario sign-in --server-pid "$pid" --json >"$dir/report.json" 2>/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["sign_in"]; print(p["per_sec"], p["server_cpu_us_per_op"], p["error_total"])' "$dir/report.json"
  rm -rf "$dir"
}

printf '| round | base SQLite | base PostgreSQL | PG/SQLite | new SQLite | new PostgreSQL | PG/SQLite |\n|---|---|---|---|---|---|---|\n' >"${TMPDIR:-/tmp}/bench-compare.md"
for round in $(seq "$ROUNDS"); do
  row="| $round"
  for bin in "$BASE" "$NEW"; do
    read -r sq_rate sq_cpu sq_err < <(run "$bin" sqlite)
    read -r pg_rate pg_cpu pg_err < <(run "$bin" postgres)
    echo "round $round $bin: sqlite $sq_rate/s (${sq_cpu} µs, $sq_err errors), postgres $pg_rate/s (${pg_cpu} µs, $pg_err errors)" >&2
    ratio=$(python3 -c "print(f'{100*$pg_rate/$sq_rate:.0f} %')")
    row="$row | $sq_rate (${sq_cpu} µs) | $pg_rate (${pg_cpu} µs) | $ratio"
  done
  echo "$row |" >>"${TMPDIR:-/tmp}/bench-compare.md"
done
cat "${TMPDIR:-/tmp}/bench-compare.md"
