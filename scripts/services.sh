#!/usr/bin/env bash
# The services stylize talks to, started if they are down (with the Debian packages' own
# commands), plus Garage for S3 and the PostgreSQL databases. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STYLIZE_ROOT"

log() { printf '\033[1mservices:\033[0m %s\n' "$*"; }
wait_for() { # NAME COMMAND...
  local name="$1"; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.3; done
  echo "$name did not come up" >&2; return 1
}

if ! pg_isready -q -h 127.0.0.1; then
  # The cluster on port 5432 ("VERSION NAME"); with several PostgreSQL versions
  # installed, the newest of those.
  cluster="$(pg_lsclusters --no-header | awk '$3 == 5432 { print $1, $2 }' | sort -V | tail -n 1)"
  if [ -z "$cluster" ]; then
    echo "services: no PostgreSQL cluster on port 5432 (pg_lsclusters lists none)" >&2
    exit 1
  fi
  log "starting PostgreSQL $cluster"
  # shellcheck disable=SC2086 # two words: the version and the cluster's name
  pg_ctlcluster --skip-systemctl-redirect $cluster start
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 ping
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  log "starting RabbitMQ"
  rabbitmq-server -detached
  wait_for RabbitMQ rabbitmqctl -q status
fi

for db in stylize stylize_test; do
  if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    createdb -h 127.0.0.1 -U postgres "$db"
  fi
done

scripts/lib/garage.sh
