# Sourced by the test scripts: starts the machine's PostgreSQL (Debian's cluster, installing
# the server package if absent) and sets LATCH_TEST_POSTGRES_URL to a fresh, empty database
# that the tests may create and drop schemas in. Fails loudly if it cannot.

start_test_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    echo "[postgres] installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  local version cluster
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  cluster=main
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $cluster"; then
    pg_createcluster "$version" "$cluster" >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $4}' | grep -qx online; then
    pg_ctlcluster "$version" "$cluster" start
  fi
  local port
  port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
  local db="latch_test_$$_$(date +%s)"
  su postgres -c "psql -q -p $port -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'latch') THEN CREATE ROLE latch LOGIN PASSWORD 'latch' CREATEDB; END IF; END \\\$\\\$;\"" >/dev/null
  su postgres -c "psql -q -p $port -c 'CREATE DATABASE $db OWNER latch'" >/dev/null
  LATCH_TEST_POSTGRES_URL="postgres://latch:latch@127.0.0.1:$port/$db"
  # The role may create databases: tests that need isolation make their own beside this one.
  echo "[postgres] test database ready: ${LATCH_TEST_POSTGRES_URL/latch:latch@/latch:****@}" >&2
}
