#!/usr/bin/env bash
# A throw-away PostgreSQL for tests (the HA e2e test's shared SPIRE datastore): Debian's PostgreSQL
# binaries, listening on 127.0.0.1 only, its data and socket in a fresh temporary directory.
#
#   scripts/postgres.sh check                exit 0 when `start` can run (installing the binaries if needed)
#   scripts/postgres.sh start [--port N]     prints the connection info (below); a random port unless N
#   scripts/postgres.sh createdb DIR NAME    creates database NAME in the instance living in DIR
#   scripts/postgres.sh stop DIR             stops the instance (immediate shutdown) and removes DIR
#
# `start` prints KEY=VALUE lines (shell-sourceable; also written to DIR/connection.env):
#   PGDIR        the temporary directory (data in PGDIR/data, socket in PGDIR/sock, log PGDIR/postgres.log)
#   PGHOST       127.0.0.1
#   PGPORT       the TCP port (also the socket's name: PGSOCKETDIR/.s.PGSQL.PGPORT)
#   PGSOCKETDIR  the unix socket directory
#   PGUSER       the superuser, `spire`
#   PGDATABASE   `postgres`
#   PGRUNAS      the OS user the server runs as
#   PGBIN        the binaries used
#
# Who runs it: `initdb` and `postgres` refuse to run as root. Run as root (a CI clone, a container),
# the script runs them as the `postgres` system user that Debian's package creates (a dedicated
# account, so no new user is made), else as `nobody`; SPIRE_AZURE_PG_USER overrides. The temporary
# directory is created by the script and handed to that user (chown). Run as any other user, the
# server runs as that user. Authentication is `trust` for loopback and the socket: a test database
# that lives as long as one test, reachable only from this machine.
#
# Binaries: PG_BIN, else the newest /usr/lib/postgresql/*/bin. Where they are missing and this runs as
# root with apt-get, it says so and installs Debian's `postgresql` (without creating or starting the
# package's default cluster); SPIRE_AZURE_PG_NO_INSTALL=1 forbids that.
#
# Exit codes: 0 done; 3 PostgreSQL unavailable (the reason on stderr; tests skip with it); other: failure.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
unavailable() {
  log "PostgreSQL unavailable: $*"
  exit 3
}

# where binaries were looked for, for the messages
WHERE="/usr/lib/postgresql/*/bin"
[ -n "${PG_BIN:-}" ] && WHERE="PG_BIN=$PG_BIN"

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/postgres" ] && echo "$PG_BIN"
    return 0
  fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && echo "$d"
  return 0
}

install_postgres() {
  [ -z "${PG_BIN:-}" ] || unavailable "no PostgreSQL binaries in $WHERE"
  [ "${SPIRE_AZURE_PG_NO_INSTALL:-}" = "1" ] && unavailable "no PostgreSQL binaries in $WHERE (and SPIRE_AZURE_PG_NO_INSTALL=1)"
  [ "$(id -u)" = "0" ] || unavailable "no PostgreSQL binaries in $WHERE, and not root to install Debian's postgresql"
  command -v apt-get >/dev/null 2>&1 || unavailable "no PostgreSQL binaries in $WHERE, and no apt-get to install them"
  log "no PostgreSQL binaries in $WHERE: installing Debian's postgresql with apt-get"
  # no default cluster: the package would otherwise create and start one on port 5432
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  fi
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Options::=--force-confold -y -q)
  if ! "${apt[@]}" install --no-install-recommends postgresql >&2; then
    "${apt[@]}" update >&2 || true
    "${apt[@]}" install --no-install-recommends postgresql >&2 ||
      unavailable "apt-get install postgresql failed"
  fi
}

# The OS user for initdb/postgres, and how to run a command as them.
RUNAS=""
as_user() {
  if [ "$(id -u)" != "0" ]; then
    "$@"
  elif command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$RUNAS" --regid="$(id -g "$RUNAS")" --clear-groups -- "$@"
  else
    runuser -u "$RUNAS" -- "$@"
  fi
}
pick_user() {
  if [ "$(id -u)" != "0" ]; then
    RUNAS="$(id -un)"
  elif [ -n "${SPIRE_AZURE_PG_USER:-}" ]; then
    RUNAS="$SPIRE_AZURE_PG_USER"
  elif id postgres >/dev/null 2>&1; then
    RUNAS=postgres
  else
    RUNAS=nobody
  fi
  id "$RUNAS" >/dev/null 2>&1 || unavailable "no OS user $RUNAS to run PostgreSQL as"
  if [ "$(id -u)" = "0" ] && ! command -v setpriv >/dev/null 2>&1 && ! command -v runuser >/dev/null 2>&1; then
    unavailable "neither setpriv nor runuser to drop root for initdb/postgres"
  fi
}

cmd_start() {
  local port=""
  while [ $# -gt 0 ]; do
    case "$1" in
    --port)
      port="$2"
      shift 2
      ;;
    *)
      log "unknown option $1"
      exit 2
      ;;
    esac
  done
  local bin
  bin="$(find_bin)"
  if [ -z "$bin" ]; then
    install_postgres
    bin="$(find_bin)"
    [ -n "$bin" ] || unavailable "no PostgreSQL binaries in $WHERE after installing"
  fi
  pick_user

  # a directory the server's user owns, under a parent it can traverse
  local base="${TMPDIR:-/tmp}"
  local dir
  dir="$(mktemp -d "$base/spire-azure-pg.XXXXXX")"
  if [ "$(id -u)" = "0" ]; then
    chown "$RUNAS:$(id -g "$RUNAS")" "$dir"
    if ! (cd / && as_user test -w "$dir"); then
      rmdir "$dir"
      dir="$(mktemp -d /tmp/spire-azure-pg.XXXXXX)"
      chown "$RUNAS:$(id -g "$RUNAS")" "$dir"
    fi
  fi
  chmod 700 "$dir"
  cd "$dir" # initdb/pg_ctl as the unprivileged user would warn about root's cwd
  as_user mkdir -m 700 "$dir/sock"

  if ! as_user "$bin/initdb" -D "$dir/data" -U spire --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1; then
    log "initdb failed:"
    tail -n 20 "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi

  local tries=0 p
  for (( ; ; )); do
    p="${port:-$((20000 + RANDOM % 40000))}"
    # fsync and friends off: a throw-away database; max_connections for two SPIRE servers' pools
    if as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -s \
      -o "-p $p -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >&2; then
      break
    fi
    tries=$((tries + 1))
    if [ -n "$port" ] || [ $tries -ge 5 ]; then
      log "postgres did not start:"
      tail -n 20 "$dir/postgres.log" >&2 || true
      rm -rf "$dir"
      exit 1
    fi
  done

  cat >"$dir/connection.env" <<EOF
PGDIR=$dir
PGHOST=127.0.0.1
PGPORT=$p
PGSOCKETDIR=$dir/sock
PGUSER=spire
PGDATABASE=postgres
PGRUNAS=$RUNAS
PGBIN=$bin
EOF
  cat "$dir/connection.env"
}

read_env() {
  local dir="$1"
  [ -f "$dir/connection.env" ] || {
    log "$dir/connection.env not found: not a directory made by postgres.sh start"
    exit 2
  }
  # shellcheck disable=SC1091
  . "$dir/connection.env"
}

cmd_createdb() {
  local dir="$1" name="$2"
  read_env "$dir"
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U spire "$name"
}

cmd_stop() {
  local dir="$1"
  case "$dir" in
  */spire-azure-pg.*) ;;
  *)
    log "refusing to remove $dir (not a spire-azure-pg.* directory)"
    exit 2
    ;;
  esac
  if [ -f "$dir/connection.env" ]; then
    read_env "$dir"
    RUNAS="$PGRUNAS"
    cd "$dir"
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_user "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 -s stop >&2 || {
        local pid
        pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
      }
    fi
    cd /
  fi
  rm -rf "$dir"
}

cmd_check() {
  if [ -z "$(find_bin)" ]; then
    install_postgres
    [ -n "$(find_bin)" ] || unavailable "no PostgreSQL binaries in $WHERE after installing"
  fi
  pick_user
  find_bin
}

case "${1:-}" in
check)
  cmd_check
  ;;
start)
  shift
  cmd_start "$@"
  ;;
createdb)
  [ $# -eq 3 ] || {
    log "usage: postgres.sh createdb DIR NAME"
    exit 2
  }
  cmd_createdb "$2" "$3"
  ;;
stop)
  [ $# -eq 2 ] || {
    log "usage: postgres.sh stop DIR"
    exit 2
  }
  cmd_stop "$2"
  ;;
*)
  log "usage: postgres.sh check | start [--port N] | createdb DIR NAME | stop DIR"
  exit 2
  ;;
esac
