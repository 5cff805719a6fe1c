# Sourced by check/page.sh and the bench/ scripts: a throwaway stack on the shared services,
# with a database and a queue of its own, torn down when the calling script exits.
# Usage: source scripts/lib/stack.sh NAME PORT; stack_start_api; stack_start_worker

stack_database="stylize_$1"
stack_queue="stylize.$1"
stack_url="http://127.0.0.1:$2"
stack_pids=()

dropdb -h 127.0.0.1 -U postgres --if-exists --force "$stack_database"
createdb -h 127.0.0.1 -U postgres "$stack_database"
export STYLIZE__DATABASE__URL="postgres://postgres@127.0.0.1:5432/$stack_database"
export STYLIZE__AMQP__QUEUE="$stack_queue"
export STYLIZE__HTTP__PORT="$2"
export STYLIZE__PRESETS__DIR="$STYLIZE_ASSETS/styles"
export STYLIZE__WORKER__WEIGHTS="$STYLIZE_WEIGHTS"
export STYLIZE__WORKER__FAST_WEIGHTS="$STYLIZE_FAST_WEIGHTS"
export RUST_LOG="${RUST_LOG:-warn}"

stack_stop() {
  kill "${stack_pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rabbitmqctl -q delete_queue "$stack_queue" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_queue "$stack_queue.dead" >/dev/null 2>&1 || true
  dropdb -h 127.0.0.1 -U postgres --if-exists --force "$stack_database" || true
}
trap stack_stop EXIT

stack_start_api() {
  target/release/stylize-api &
  stack_pids+=($!)
  for _ in $(seq 150); do curl -sf "$stack_url/readyz" >/dev/null && return; sleep 0.2; done
  echo "the api did not become ready at $stack_url" >&2
  return 1
}

# Starts a worker serving /metrics on METRICS_ADDRESS (default: any free port); with an
# address, waits until it answers /healthz (its model loaded).
stack_start_worker() {
  local address="${1:-127.0.0.1:0}"
  STYLIZE__WORKER__METRICS_ADDRESS="$address" target/release/stylize-worker &
  stack_pids+=($!)
  [ "$address" = 127.0.0.1:0 ] && return
  for _ in $(seq 300); do curl -sf "http://$address/healthz" >/dev/null && return; sleep 0.2; done
  echo "the worker did not start" >&2
  return 1
}
