#!/bin/sh
# The local PostgreSQL image's entry point: initdb on an empty data directory with the
# superuser password from POSTGRES_PASSWORD, then PostgreSQL in the foreground (PID 1).
set -eu

if [ "${1:-}" = "postgres" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres-entrypoint: set POSTGRES_PASSWORD for the superuser" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    # Inside the container the socket trusts its own user; over TCP only passwords work.
    initdb --username="${POSTGRES_USER:-postgres}" --pwfile="$password_file" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    rm -f "$password_file"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    echo "postgres-entrypoint: initialised $PGDATA"
fi

if [ "${1:-}" = "postgres" ]; then
    shift
    exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
