#!/usr/bin/env bash
# Starts a private PostgreSQL cluster on loopback for the test suite (unless one is already
# answering on its port) and prints its admin URL on stdout. Installs PostgreSQL from Debian's
# packages when it is missing. Safe to run again: an already running cluster is reused.
set -euo pipefail

port="${CALLBRIDGE_PG_PORT:-55432}"
dir="${CALLBRIDGE_PG_DIR:-${TMPDIR:-/tmp}/callbridge-test-pg}"
url="postgres://callbridge@127.0.0.1:${port}/postgres"

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin)" ]; then
    echo "start-postgres: installing postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql postgresql-client >&2
fi
bin="$(pg_bin)"

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "$url"
    exit 0
fi

if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    as_owner "$bin/initdb" -D "$dir" -U callbridge --auth=trust -E UTF8 >/dev/null
fi

# fsync off: this cluster holds throw-away test data only.
as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null
echo "$url"
