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
# local cluster (scripts/postgres-test-db.sh starts it). Prints one line per run and a table:
# loops/s, the server's CPU per loop, and on PostgreSQL also its backends' CPU per loop (the
# backends serving that run's database, sampled over the last SECONDS of the run: the
# sign-in phase).
#
# Optional, through the environment:
#   SWEEP="4 8 16 32"  also run every binary and backend at each of these concurrencies and
#                      print each one's peak loops/s (and the concurrency it peaked at): a
#                      backend may peak at a higher concurrency than the other, so "per node"
#                      compares peak to peak as well as at C=8. The C=8 table is printed too.
#   CONCURRENCY=8      the concurrency of the main table.
#   BASE_ARGS / NEW_ARGS  extra `latch serve` arguments for each binary (e.g. to compare
#                      `--database-pool-size 4` against the default with one binary twice).
set -euo pipefail
GEN=$1 BASE=$2 NEW=$3 ROUNDS=${4:-2} USERS=${5:-500} SECONDS_EACH=${6:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/postgres-test-db.sh"
start_test_postgres
PORT=18190
CONCURRENCY=${CONCURRENCY:-8}
SWEEP=${SWEEP:-}
read -r -a base_args <<<"${BASE_ARGS:-}"
read -r -a new_args <<<"${NEW_ARGS:-}"
NO_LIMITS=(--rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 --rate-limit-sign-ups-per-hour 0)

# The CPU (clock ticks) of the PostgreSQL backends serving database $1.
backends_cpu() {
  local total=0 ticks
  for p in $(pgrep -f "postgres: .*: [a-z_]+ $1 " || true); do
    ticks=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + ticks))
  done
  echo "$total"
}

# run BINARY BACKEND CONCURRENCY [SERVE ARGS…]: prints
# "loops/s server-µs-per-loop errors postgres-µs-per-loop"
run() {
  local bin=$1 backend=$2 concurrency=$3 dir db_args=() pid name=none
  shift 3
  dir=$(mktemp -d)
  if [ "$backend" = postgres ]; then
    name="latch_cmp_$$_$RANDOM"
    psql -q "$LATCH_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
    db_args=(--database-url "${LATCH_TEST_POSTGRES_URL%/*}/$name")
  fi
  "$bin" serve --port "$PORT" --data-dir "$dir" "${db_args[@]}" "${NO_LIMITS[@]}" "$@" >"$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -qs "latch listening" "$dir/server.log" && break; sleep 0.1; done
  "$GEN" --url "http://127.0.0.1:$PORT" --users "$USERS" --concurrency "$concurrency" --duration "$SECONDS_EACH" \
    --scenario sign-in --server-pid "$pid" --json >"$dir/report.json" 2>/dev/null &
  local gen=$!
  while kill -0 "$gen" 2>/dev/null; do echo "$(date +%s.%N) $(backends_cpu "$name")"; sleep 0.5; done >"$dir/backends"
  wait "$gen"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$dir/report.json" "$dir/backends" "$SECONDS_EACH" "$(getconf CLK_TCK)" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["sign_in"]
samples = [tuple(map(float, line.split())) for line in open(sys.argv[2]) if line.strip()]
secs, tck = float(sys.argv[3]), float(sys.argv[4])
end = samples[-1]
start = min(samples, key=lambda s: abs(s[0] - (end[0] - secs)))
backends = (end[1] - start[1]) / tck * secs / max(end[0] - start[0], 1e-9)
print(p["per_sec"], p["server_cpu_us_per_op"], p["error_total"], round(backends * 1e6 / max(p["completed"], 1)))
PY
  rm -rf "$dir"
}

printf '| round | base SQLite | base PostgreSQL | PG/SQLite | new SQLite | new PostgreSQL | PG/SQLite |\n|---|---|---|---|---|---|---|\n' >"${TMPDIR:-/tmp}/bench-compare.md"
for round in $(seq "$ROUNDS"); do
  row="| $round"
  for which in base new; do
    if [ "$which" = base ]; then bin=$BASE args=("${base_args[@]}"); else bin=$NEW args=("${new_args[@]}"); fi
    read -r sq_rate sq_cpu sq_err _ < <(run "$bin" sqlite "$CONCURRENCY" "${args[@]}")
    read -r pg_rate pg_cpu pg_err pg_backends < <(run "$bin" postgres "$CONCURRENCY" "${args[@]}")
    echo "round $round $bin ${args[*]} (C=$CONCURRENCY): sqlite $sq_rate/s (${sq_cpu} µs, $sq_err errors), postgres $pg_rate/s (${pg_cpu} µs + backends ${pg_backends} µs, $pg_err errors)" >&2
    ratio=$(python3 -c "print(f'{100*$pg_rate/$sq_rate:.0f} %')")
    row="$row | $sq_rate (${sq_cpu} µs) | $pg_rate (${pg_cpu} µs + ${pg_backends} µs) | $ratio"
  done
  echo "$row |" >>"${TMPDIR:-/tmp}/bench-compare.md"
done
cat "${TMPDIR:-/tmp}/bench-compare.md"

# The sweep: each binary on each backend at each concurrency, then each one's peak.
if [ -n "$SWEEP" ]; then
  sweep="${TMPDIR:-/tmp}/bench-compare-sweep.md"
  printf '\n| round | binary | backend |' >"$sweep"
  for c in $SWEEP; do printf ' C=%s |' "$c" >>"$sweep"; done
  printf ' peak |\n|---|---|---|' >>"$sweep"
  for c in $SWEEP; do printf '%s' '---|' >>"$sweep"; done
  printf '%s\n' '---|' >>"$sweep"
  peaks="${TMPDIR:-/tmp}/bench-compare-peaks"
  : >"$peaks"
  for round in $(seq "$ROUNDS"); do
    for which in base new; do
      if [ "$which" = base ]; then bin=$BASE args=("${base_args[@]}"); else bin=$NEW args=("${new_args[@]}"); fi
      for backend in sqlite postgres; do
        row="| $round | $which | $backend" best=0 best_c=0
        for c in $SWEEP; do
          read -r rate cpu err backends_us < <(run "$bin" "$backend" "$c" "${args[@]}")
          echo "sweep round $round $which $backend C=$c: $rate/s (${cpu} µs + backends ${backends_us} µs, $err errors)" >&2
          row="$row | $rate (${cpu} + ${backends_us} µs)"
          if python3 -c "import sys; sys.exit(0 if $rate > $best else 1)"; then best=$rate best_c=$c; fi
        done
        echo "$row | $best (C=$best_c) |" >>"$sweep"
        echo "$round $which $backend $best" >>"$peaks"
      done
    done
  done
  cat "$sweep"
  python3 - "$peaks" <<'PY'
import sys
peaks = {}
for line in open(sys.argv[1]):
    rnd, which, backend, rate = line.split()
    peaks[(rnd, which, backend)] = float(rate)
print()
print("| round | base peak PG/SQLite | new peak PG/SQLite |")
print("|---|---|---|")
for rnd in sorted({k[0] for k in peaks}, key=int):
    cells = []
    for which in ("base", "new"):
        sq, pg = peaks.get((rnd, which, "sqlite")), peaks.get((rnd, which, "postgres"))
        cells.append(f"{100 * pg / sq:.0f} % ({pg:.0f} / {sq:.0f})" if sq and pg else "–")
    print(f"| {rnd} | {cells[0]} | {cells[1]} |")
PY
fi
