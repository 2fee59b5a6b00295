#!/usr/bin/env bash
# Soak: does the database of a steady workload stop growing?
#
#   scripts/soak.sh sqlite|postgres [SECONDS] [SAMPLE_EVERY] [RATE]
#
# Starts a real `latch serve` (SQLite in a fresh folder, or PostgreSQL in a fresh database
# via scripts/postgres-test-db.sh) with short purge settings: finished records, dead clients
# and audit lines are kept --soak-retention-secs (default 30 s here; a day / 30 days / 90 days
# in a real deployment) and the purge runs every --purge-interval-secs (5 s). Then
# `latch-bench --scenario sign-in` runs the clerk-js sign-in loop (create, attempt, touch,
# token, sign out) for SECONDS (default 180) at RATE loops/s (default 150, so that other work
# on a shared machine keeps its share), while this script samples every SAMPLE_EVERY seconds
# (default 15):
#   * the database's size: SQLite main file + WAL on disk, and what SQLite itself counts
#     (page_count * page_size, of which freelist_count pages are free for reuse);
#     PostgreSQL: the sum of pg_total_relation_size over Latch's tables (heap, indexes, TOAST);
#   * the rows of each table.
# With the purge working, every column levels off about one retention period after the start
# (sessions, sign-ins and audit lines then leave as fast as they come).
#
# Binaries: $LATCH and $LATCH_BENCH (default target/release/, else target/debug/).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:?usage: scripts/soak.sh sqlite|postgres [SECONDS] [SAMPLE_EVERY] [RATE]}
seconds=${2:-180}
every=${3:-15}
rate=${4:-150}
retention=${SOAK_RETENTION_SECS:-30}
users=${SOAK_USERS:-200}
concurrency=${SOAK_CONCURRENCY:-4}

pick() { if [ -x "target/release/$1" ]; then echo "target/release/$1"; else echo "target/debug/$1"; fi; }
LATCH=${LATCH:-$(pick latch)}
LATCH_BENCH=${LATCH_BENCH:-$(pick latch-bench)}

dir=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

tables="clients sessions sign_ins sign_ups users passkeys pending_passkeys audit_events rate_limits handshake_nonces sign_in_tokens"
counts_sql="SELECT $(for t in $tables; do printf "(SELECT COUNT(*) FROM %s)," "$t"; done | sed 's/,$//')"

case "$backend" in
  sqlite)
    db_url="sqlite://$dir/latch.db"
    size() {
      local main wal
      main=$(stat -c %s "$dir/latch.db" 2>/dev/null || echo 0)
      wal=$(stat -c %s "$dir/latch.db-wal" 2>/dev/null || echo 0)
      # used = pages SQLite counts minus the free ones it will reuse
      local pages
      pages=$(sqlite3 -readonly "$dir/latch.db" "PRAGMA page_count; PRAGMA page_size; PRAGMA freelist_count;" | paste -sd' ')
      read -r count psize free <<<"$pages"
      echo "$((main + wal)) $((count * psize)) $((free * psize))"
    }
    counts() { sqlite3 -readonly -separator ' ' "$dir/latch.db" "$counts_sql"; }
    ;;
  postgres)
    # shellcheck source=scripts/postgres-test-db.sh
    source scripts/postgres-test-db.sh
    start_test_postgres
    db_url=$LATCH_TEST_POSTGRES_URL
    size() {
      local total
      total=$(psql "$db_url" -At -c "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname <> '_sqlx_migrations'")
      echo "$total $total 0"
    }
    counts() { psql "$db_url" -At -F ' ' -c "$counts_sql"; }
    ;;
  *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac

"$LATCH" serve --port 0 --data-dir "$dir" --database-url "$db_url" \
  --rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 \
  --rate-limit-sign-ups-per-hour 0 \
  --soak-retention-secs "$retention" --purge-interval-secs 5 >"$dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "latch listening on" "$dir/server.log" && break
  sleep 0.2
done
addr=$(grep -o "latch listening on http://[^ ]*" "$dir/server.log" | sed 's/.*http:\/\///')
[ -n "$addr" ] || { echo "latch did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
port=${addr##*:}

echo "soak: $backend, ${seconds}s of sign-in loops at ${rate}/s (C=$concurrency, $users users), retention ${retention}s, purge every 5s"
"$LATCH_BENCH" --url "http://127.0.0.1:$port" --users "$users" --concurrency "$concurrency" \
  --duration "$seconds" --rate "$rate" --scenario sign-in --server-pid "$server_pid" >"$dir/bench.txt" 2>&1 &
bench_pid=$!

# Wait for the populate phase to end (the first sign-in makes the first completed sign-in).
header="t_s db_bytes used_bytes free_bytes $tables"
printf '%s\n' "$header" | tr ' ' '\t'
start=$(date +%s)
while kill -0 "$bench_pid" 2>/dev/null; do
  now=$(date +%s)
  printf '%s %s %s\n' "$((now - start))" "$(size)" "$(counts)" | tr ' ' '\t'
  for _ in $(seq 1 "$every"); do kill -0 "$bench_pid" 2>/dev/null || break; sleep 1; done
done
now=$(date +%s)
printf '%s %s %s\n' "$((now - start))" "$(size)" "$(counts)" | tr ' ' '\t'
wait "$bench_pid" || { echo "latch-bench failed:" >&2; cat "$dir/bench.txt" >&2; exit 1; }
echo
grep -E "^(sign-in|populate)|errors" "$dir/bench.txt" | head -n 6
