#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 server for tests and benchmarks, and stops it again.
#
#   scripts/start-postgres.sh [--dir DIR] [-c NAME=VALUE ...]
#       initdb into DIR/data (DIR defaults to a new temporary directory), then start the server
#       on a free port on 127.0.0.1 with its unix socket in DIR, logging to DIR/postgres.log.
#       Prints the port on stdout (one line); everything else goes to stderr.
#       Connect with: host=DIR port=PORT user=postgres dbname=postgres (trust authentication).
#       Extra -c settings are passed to the server (e.g. -c shared_buffers=256MB).
#   scripts/start-postgres.sh --stop DIR
#       Stops the server of DIR (fast shutdown) and leaves DIR in place.
#
# PostgreSQL refuses to run as root: when run as root, the server runs as the `postgres` user
# (via runuser) and DIR is handed to that user. The binaries come from
# /usr/lib/postgresql/15/bin unless PG_BIN says otherwise.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

dir=""
stop=0
settings=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --stop) [ $# -ge 2 ] || usage; stop=1; dir=$2; shift 2 ;;
    -c) [ $# -ge 2 ] || usage; settings+=("-c" "$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "start-postgres: unknown argument '$1'." >&2; exit 2 ;;
  esac
done

if [ ! -x "$PG_BIN/pg_ctl" ]; then
  echo "start-postgres: $PG_BIN/pg_ctl not found; install postgresql-15 (scripts/install-deps.sh)." >&2
  exit 1
fi

if [ "$stop" -eq 1 ]; then
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
  exit 0
fi

if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/annals-pg.XXXXXX")
  echo "start-postgres: using $dir (stop with: $0 --stop $dir)" >&2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -e "$dir/data" ]; then
  echo "start-postgres: $dir/data already exists; give an empty or new directory." >&2
  exit 1
fi
# The unix socket path must fit in 107 bytes.
if [ ${#dir} -gt 80 ]; then
  echo "start-postgres: the directory path is too long for a unix socket: $dir" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
fi

as_pg "$PG_BIN/initdb" -D "$dir/data" --auth=trust --username=postgres --encoding=UTF8 \
  --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
  echo "start-postgres: initdb failed:" >&2
  tail -20 "$dir/initdb.log" >&2
  exit 1
}

port_in_use() {
  ss -Htln "sport = :$1" 2>/dev/null | grep -q . 
}

for attempt in $(seq 1 20); do
  port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
  if port_in_use "$port"; then continue; fi
  # -c settings go through pg_ctl -o as one string: quote each for the server's parser.
  opts="-p $port -k '$dir' -c listen_addresses=127.0.0.1"
  for s in "${settings[@]+"${settings[@]}"}"; do
    if [ "$s" != "-c" ]; then opts+=" -c '$s'"; fi
  done
  if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "$opts" \
      start >/dev/null 2>&1; then
    echo "$port"
    exit 0
  fi
  if ! grep -q "could not bind\|Address already in use\|could not create lock file" \
      "$dir/postgres.log" 2>/dev/null; then
    break
  fi
  : >"$dir/postgres.log"
done

echo "start-postgres: the server did not start; its log says:" >&2
tail -20 "$dir/postgres.log" >&2 || true
exit 1
