#!/usr/bin/env bash
# A PostgreSQL server for the store's tests (packages/store/src/postgres.test-helper.ts).
# Run as root on Debian; idempotent: installs PostgreSQL when its binaries are missing, starts a
# cluster on 127.0.0.1:5432 (the packaged one, or one made here), creates the role mfactl
# (password mfactl) and the database mfactl_test it owns, waits until it accepts connections,
# and prints as its last line on stdout:
#   export MFACTL_TEST_POSTGRES_URL=postgres://mfactl:mfactl@127.0.0.1:5432/mfactl_test
# Everything else goes to stderr. Use: eval "$(bash .ci/postgres.sh | tail -n 1)"
set -euo pipefail

PORT=5432
HOST=127.0.0.1
ROLE=mfactl
PASSWORD=mfactl
DATABASE=mfactl_test
# Only for machines without Debian's cluster tools (pg_lsclusters): a cluster made with initdb.
FALLBACK_DATA=/var/lib/postgresql/mfactl-ci
SOCKET_DIR=/var/run/postgresql

log() { echo "postgres.sh: $*" >&2; }

pg_bindir() {
  # The newest installed major version.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$dir" && -x "$dir/postgres" ]]; then echo "$dir"; fi
}

as_postgres() { runuser -u postgres -- "$@"; }

ready() { "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 2; }

BIN=$(pg_bindir)
if [[ -z "$BIN" ]]; then
  log "PostgreSQL is not installed: installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends postgresql >&2
  BIN=$(pg_bindir)
  [[ -n "$BIN" ]] || { log "apt-get installed postgresql but no server binaries are under /usr/lib/postgresql/*/bin"; exit 1; }
fi
VERSION=$(basename "$(dirname "$BIN")")
log "PostgreSQL $VERSION binaries in $BIN"

id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
install -d -o postgres -g postgres -m 2775 "$SOCKET_DIR"

if ready; then
  log "a server already accepts connections on $HOST:$PORT"
elif command -v pg_lsclusters >/dev/null && command -v pg_ctlcluster >/dev/null; then
  # Debian's postgresql-common: the cluster on our port, else a new one.
  cluster=$(pg_lsclusters -h | awk -v port="$PORT" '$3 == port { print $1 " " $2; exit }')
  if [[ -z "$cluster" ]]; then
    log "no cluster on port $PORT: creating $VERSION/main"
    pg_createcluster "$VERSION" main --port "$PORT" >&2
    cluster="$VERSION main"
  fi
  read -r cversion cname <<<"$cluster"
  status=$(pg_lsclusters -h | awk -v v="$cversion" -v n="$cname" '$1 == v && $2 == n { print $4 }')
  if [[ "$status" != online* ]]; then
    log "starting cluster $cversion/$cname"
    # A stale pid file from a machine that was stopped without shutting the server down.
    pid_file="$(pg_conftool -s "$cversion" "$cname" show data_directory 2>/dev/null || echo "/var/lib/postgresql/$cversion/$cname")/postmaster.pid"
    if [[ -f "$pid_file" ]] && ! kill -0 "$(head -n 1 "$pid_file")" 2>/dev/null; then
      log "removing the stale $pid_file"
      rm -f "$pid_file"
    fi
    pg_ctlcluster "$cversion" "$cname" start >&2
  fi
else
  # No cluster tools: our own cluster, made with initdb, started with pg_ctl.
  if [[ ! -f "$FALLBACK_DATA/PG_VERSION" ]]; then
    log "initialising a cluster in $FALLBACK_DATA"
    install -d -o postgres -g postgres -m 0700 "$FALLBACK_DATA"
    as_postgres "$BIN/initdb" -D "$FALLBACK_DATA" --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >&2
  fi
  log "starting the cluster in $FALLBACK_DATA"
  as_postgres "$BIN/pg_ctl" -D "$FALLBACK_DATA" -l "$FALLBACK_DATA/server.log" -w -t 60 \
    -o "-p $PORT -c listen_addresses=$HOST -k $SOCKET_DIR" start >&2
fi

for _ in $(seq 1 60); do
  ready && break
  sleep 1
done
ready || { log "PostgreSQL does not accept connections on $HOST:$PORT after 60 s"; exit 1; }

# As the superuser over the local socket (peer authentication).
psql_admin() { as_postgres "$BIN/psql" -h "$SOCKET_DIR" -p "$PORT" -X -q -v ON_ERROR_STOP=1 -tA "$@"; }

if [[ "$(psql_admin -d postgres -c "select 1 from pg_roles where rolname = '$ROLE'")" != 1 ]]; then
  log "creating role $ROLE"
  psql_admin -d postgres -c "create role $ROLE login password '$PASSWORD'"
else
  # Make sure the password is the one the URL below carries.
  psql_admin -d postgres -c "alter role $ROLE login password '$PASSWORD'"
fi
if [[ "$(psql_admin -d postgres -c "select 1 from pg_database where datname = '$DATABASE'")" != 1 ]]; then
  log "creating database $DATABASE"
  psql_admin -d postgres -c "create database $DATABASE owner $ROLE"
fi

URL="postgres://$ROLE:$PASSWORD@$HOST:$PORT/$DATABASE"
PGPASSWORD="$PASSWORD" "$BIN/psql" "postgres://$ROLE@$HOST:$PORT/$DATABASE" -X -q -v ON_ERROR_STOP=1 -tAc "select 1" >/dev/null ||
  { log "PostgreSQL is up but $ROLE cannot log in to $DATABASE over TCP"; exit 1; }
log "ready: $ROLE@$HOST:$PORT/$DATABASE"
echo "export MFACTL_TEST_POSTGRES_URL=$URL"
