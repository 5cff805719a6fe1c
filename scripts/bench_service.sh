#!/usr/bin/env bash
# The service benchmarks of docs/benchmarks/service.md, on loopback: GET /v1/jobs/{id} and
# POST /v1/jobs (a 1 MB JPEG) under wrk, then 202 → first preview and first iteration
# with an idle worker. Uses its own database and queue (stylize_bench, stylize.bench);
# its uploads stay in the development bucket. Not part of the tests.
# Usage: scripts/bench_service.sh   (DURATION=10 CONNECTIONS=32 RUNS=10 to change)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STYLIZE_ROOT"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
RUNS="${RUNS:-10}"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/services.sh >/dev/null
cargo build --release --workspace --bins --quiet
source scripts/stack.sh bench 8097
api="$stack_url"
stack_start_api

photo="$STYLIZE_VAR/bench/photo-1mb.jpg"
if [ ! -s "$photo" ]; then
  mkdir -p "$(dirname "$photo")"
  "$STYLIZE_VENV/bin/python" - "$STYLIZE_ASSETS/content/tubingen.jpg" "$photo" <<'PY'
import sys
from PIL import Image
# Upscaled until the JPEG weighs at least 1 MB (1 000 000 bytes).
photo = Image.open(sys.argv[1])
width = photo.width
while True:
    photo.resize((width, width * 3 // 4), Image.LANCZOS).save(sys.argv[2], quality=95)
    with open(sys.argv[2], "rb") as written:
        if len(written.read()) >= 1_000_000:
            break
    width += 64
PY
fi
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== photo: $(stat -c %s "$photo") bytes"

id="$(curl -sf -F "content=@$photo" -F preset=starry-night -F 'params={"size":64,"iterations":5}' \
  "$api/v1/jobs" | "$STYLIZE_VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
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
