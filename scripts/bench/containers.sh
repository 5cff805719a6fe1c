#!/usr/bin/env bash
# What the containers cost (docs/benchmarks/service.md, "Containers"): the same job, one
# at a time, RUNS times on one CPU worker run as a process beside a process api
# (scripts/lib/stack.sh, the shared local services) and on one worker container of
# docker-compose.yml (scripts/lib/compose_stack.sh), each with one libtorch thread; prints
# each run's time (the job's started_at to finished_at, in PostgreSQL), the medians and
# their ratio, and the compose stack's cold and warm start to /readyz 200. Not part of
# the tests.
# Usage: scripts/bench/containers.sh   (RUNS=5 SIZE=256 ITERATIONS=100 to change)
set -euo pipefail
COMPOSE_STACK=stylize-bench
COMPOSE_STACK_PORT=18090
source "$(dirname "${BASH_SOURCE[0]}")/../lib/compose_stack.sh"
cd "$STYLIZE_ROOT"
RUNS="${RUNS:-5}"
PARAMS="{\"size\": ${SIZE:-256}, \"iterations\": ${ITERATIONS:-100}}"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# RUNS jobs one after the other against $API; each job's run time on stdout. Needs sql().
time_jobs() {
  local id
  for _ in $(seq "$RUNS"); do
    id="$(submit "$PARAMS")"
    [ -n "$id" ] || { echo "bench: a job was not accepted" >&2; return 1; }
    wait_terminal 900 "$id" && [ "$(state "$id")" = succeeded ] \
      || { echo "bench: job $id did not succeed" >&2; return 1; }
    sql "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 2) FROM jobs WHERE id = '$id'"
  done
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); job $PARAMS, $RUNS runs each"
scripts/services.sh >/dev/null
cargo build --release --workspace --bins --quiet

# The process stack, in a subshell so that stack.sh's clean-up runs when it ends.
(
  export STYLIZE__WORKER__THREADS=1
  source scripts/lib/stack.sh bench_process 18095
  stack_start_api
  stack_start_worker 127.0.0.1:18096
  API="$stack_url"
  sql() { psql -h 127.0.0.1 -U postgres -d "$stack_database" -tA -c "$1"; }
  time_jobs > "$CONTAINERS_DIR/bench-process"
)
echo "process worker:   $(tr '\n' ' ' < "$CONTAINERS_DIR/bench-process")s"

stack_engine
trap stack_cleanup EXIT
stack_images
stack_env
compose down -v --remove-orphans >/dev/null 2>&1 || true
started=$SECONDS
compose up -d --no-build >/dev/null 2>&1
wait_ready 300
cold=$((SECONDS - started))
compose down >/dev/null 2>&1
started=$SECONDS
compose up -d --no-build >/dev/null 2>&1
wait_ready 300
warm=$((SECONDS - started))
stack_key
wait_workers 1 180
time_jobs > "$CONTAINERS_DIR/bench-container"
echo "container worker: $(tr '\n' ' ' < "$CONTAINERS_DIR/bench-container")s"

process="$(median < "$CONTAINERS_DIR/bench-process")"
container="$(median < "$CONTAINERS_DIR/bench-container")"
echo "median: process $process s, container $container s, container/process $(awk -v c="$container" -v p="$process" 'BEGIN { printf "%.3f", c / p }')"
echo "compose up to /readyz 200: cold (new volumes) $cold s, warm (volumes kept) $warm s"
for image in stylize/api stylize/worker:cpu; do
  echo "image $image: $(($(podman image inspect --format '{{.Size}}' "$image") / 1000000)) MB"
done
