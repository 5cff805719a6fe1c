#!/usr/bin/env bash
# The service benchmarks of docs/benchmarks/service.md, on loopback: GET /v1/jobs/{id} and
# POST /v1/jobs (a 1 MB JPEG) under wrk, then 202 → first preview and first iteration
# with an idle worker. Uses its own database and queue (stylize_bench, stylize.bench);
# its uploads stay in the development bucket. Not part of the tests.
# Usage: scripts/bench/service.sh   (DURATION=10 CONNECTIONS=32 RUNS=10 to change)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
RUNS="${RUNS:-10}"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
bench_stack bench 8097
photo="$(bench_photo)"
bench_machine
echo "== photo: $(stat -c %s "$photo") bytes"

id="$(submit_job -F "content=@$photo" -F preset=starry-night -F 'params={"size":64,"iterations":5}')"
echo "== GET /v1/jobs/{id}: ${DURATION}s, $CONNECTIONS connections"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$api/v1/jobs/$id"

echo "== POST /v1/jobs (1 MB JPEG): ${DURATION}s, 8 connections"
BENCH_PHOTO="$photo" wrk -t2 -c8 -d"${DURATION}s" --latency -s scripts/bench/post_job.lua "$api/v1/jobs"

# The POSTs above queued jobs nobody runs; start the latency runs on an empty queue.
rabbitmqctl -q purge_queue "$stack_queue" >/dev/null
psql -h 127.0.0.1 -U postgres -d "$stack_database" -qc "UPDATE jobs SET state = 'canceled' WHERE state = 'queued'"
stack_start_worker 127.0.0.1:9197
for size in 64 512; do
  echo "== 202 → first preview and first iteration, idle worker on the CPU, ${size} px, $RUNS runs"
  target/release/bench-first-iteration "$api" redis://127.0.0.1:6379 \
    "$STYLIZE_ASSETS/content/tubingen.jpg" "$size" "$RUNS"
done
