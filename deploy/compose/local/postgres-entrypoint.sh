#!/bin/sh
# First start: a cluster owned by POSTGRES_USER with its password, and POSTGRES_DB.
set -eu
data=/var/lib/postgresql/data
mkdir -p "$data" /run/postgresql
chown -R postgres:postgres "$data" /run/postgresql
chmod 700 "$data"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$data/PG_VERSION" ]; then
  password="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD:?}" > "$password"
  chown postgres "$password"
  as_postgres initdb -D "$data" -U "${POSTGRES_USER:?}" --pwfile="$password" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password"
  echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
  echo "CREATE DATABASE \"${POSTGRES_DB:-$POSTGRES_USER}\"" \
    | as_postgres postgres --single -D "$data" -j postgres >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$data" -c listen_addresses='*'
