#!/usr/bin/env bash
# Network round trips ("flights") from a `latch` node to PostgreSQL per sign-in loop,
# counted on the wire side of the server: strace counts the server's writes to PostgreSQL
# sockets and its HTTP responses (5 per loop) for 2 s of a light sign-in load. Every flight
# is one write (pipelined statements go out together), so writes per loop = flights per loop.
#
#   scripts/pg-round-trips.sh GENERATOR LATCH
#
# GENERATOR is a `latch-bench` binary, LATCH a `latch` binary. Needs strace; PostgreSQL is
# the machine's local cluster (scripts/postgres-test-db.sh starts it).
set -euo pipefail
GEN=$1 BIN=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/postgres-test-db.sh"
start_test_postgres 2>/dev/null
PORT=18293
dir=$(mktemp -d)
name="latch_trips_$$_$RANDOM"
psql -q "$LATCH_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
"$BIN" serve --port $PORT --data-dir "$dir" --database-url "${LATCH_TEST_POSTGRES_URL%/*}/$name" \
  --rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "latch listening" "$dir/log" && break; sleep 0.1; done
"$GEN" --url "http://127.0.0.1:$PORT" --users 50 --concurrency 2 --duration 8 --scenario sign-in --server-pid $pid --json >/dev/null 2>&1 &
gen=$!
sleep 4 # past the populate phase
timeout 2 strace -f -yy -e trace=write,writev,sendto,sendmsg -p $pid -o "$dir/trace" >/dev/null 2>&1 || true
wait $gen
kill $pid; wait $pid 2>/dev/null || true
pg=$(grep -c ":5432\]" "$dir/trace" || true)
http=$(grep -c ":$PORT->" "$dir/trace" || true)
echo "$BIN: $pg writes to PostgreSQL, $http HTTP responses: $(python3 -c "print(round($pg / ($http / 5), 1))") round trips per sign-in loop"
rm -rf "$dir"
