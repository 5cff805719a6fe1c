#!/usr/bin/env bash
# The whole stack on this machine: set-up, services (PostgreSQL, Redis, RabbitMQ,
# Garage), the api and page on :8080 and one worker (GPU if there is one, else CPU). Ctrl-C stops
# the api and the worker; the services keep running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/services.sh
source scripts/env.sh
export STYLIZE__PRESETS__DIR="${STYLIZE__PRESETS__DIR:-$STYLIZE_ASSETS/styles}"
export STYLIZE__WORKER__WEIGHTS="${STYLIZE__WORKER__WEIGHTS:-$STYLIZE_WEIGHTS}"
export STYLIZE__WORKER__FAST_WEIGHTS="${STYLIZE__WORKER__FAST_WEIGHTS:-$STYLIZE_FAST_WEIGHTS}"

port="${STYLIZE__HTTP__PORT:-8080}"
target/release/stylize-api &
api=$!
target/release/stylize-worker &
worker=$!
trap 'kill -TERM $api $worker 2>/dev/null; wait' INT TERM EXIT
# Up means /readyz answers 200; the api may first wait on its services for a while.
deadline=$((SECONDS + 60))
until curl -fs --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
  if ! kill -0 "$api" 2>/dev/null; then
    echo "run: the api exited before http://127.0.0.1:$port/readyz answered (its log is above)" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run: http://127.0.0.1:$port/readyz did not answer ready within 60 s; stopping" >&2
    exit 1
  fi
  sleep 0.2
done
echo "stylize is up: http://127.0.0.1:$port  (the page; the API under /v1, /metrics, /readyz)"
wait
