#!/usr/bin/env bash
# What traces cost (docs/benchmarks/service.md, "Traces"): the status poll rate
# (GET /v1/jobs/{id}), the submission rate (POST /v1/jobs, a 1 MB JPEG) and a job's run
# time, with export off and with export on (a sampling ratio of RATIO, default 1) into
# a local OTLP receiver (a Python HTTP server on the same cores, which reads each batch
# and drops it). The two alternate in rounds on one throwaway stack: each round starts
# an api and a worker with export off, measures, and starts them again with it on.
# Usage: scripts/bench/traces.sh
#   ROUNDS=3 DURATION=10 CONNECTIONS=32 RUNS=3 SIZE=256 ITERATIONS=20 RATIO=1
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
RUNS="${RUNS:-3}"
SIZE="${SIZE:-256}"
ITERATIONS="${ITERATIONS:-20}"
export STYLIZE__TELEMETRY__SAMPLING_RATIO="${RATIO:-1}"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/services.sh >/dev/null
cargo build --release --workspace --bins --quiet
source scripts/lib/stack.sh traces 8094
api="$stack_url"
photo="$(bench_photo)"
small="$STYLIZE_ASSETS/content/tubingen.jpg"

receiver_port=4399
batches="$(mktemp)"
"$python" - "$receiver_port" "$batches" <<'PY' &
import http.server, sys

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        size = int(self.headers.get("Content-Length", 0))
        self.rfile.read(size)
        with open(sys.argv[2], "a") as log:
            log.write(f"{size}\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
PY
stack_pids+=($!)

# Starts the api and a worker with export off or on; their pids in $running.
start() { # off|on
  local endpoint=""
  [ "$1" = on ] && endpoint="http://127.0.0.1:$receiver_port"
  export STYLIZE__TELEMETRY__OTLP_ENDPOINT="$endpoint"
  local before=${#stack_pids[@]}
  stack_start_api
  stack_start_worker 127.0.0.1:9194
  running=("${stack_pids[@]:$before}")
}
stop() {
  kill "${running[@]}"
  wait "${running[@]}" 2>/dev/null || true
}

# A job's run, from its start to its end, in seconds.
run_seconds() {
  local id
  id="$(submit_job -F "content=@$small" -F preset=starry-night \
    -F "params={\"size\":$SIZE,\"iterations\":$ITERATIONS}")"
  for _ in $(seq 1200); do
    seconds="$(curl -sf "$api/v1/jobs/$id" | "$python" -c '
import json, sys
from datetime import datetime
job = json.load(sys.stdin)
if job["state"] in ("succeeded", "failed", "canceled"):
    assert job["state"] == "succeeded", job
    at = lambda field: datetime.fromisoformat(job[field].replace("Z", "+00:00"))
    print("%.2f" % (at("finished_at") - at("started_at")).total_seconds())')"
    [ -n "$seconds" ] && { echo "$seconds"; return; }
    sleep 0.1
  done
  echo "job $id did not end" >&2
  return 1
}

bench_machine
echo "== ${DURATION}s runs; GET with $CONNECTIONS connections, POST with 8; jobs: $SIZE px, $ITERATIONS iterations; sampling ratio $STYLIZE__TELEMETRY__SAMPLING_RATIO"
for round in $(seq "$ROUNDS"); do
  for export in off on; do
    start "$export"
    id="$(submit_job -F "content=@$small" -F preset=starry-night -F 'params={"size":64,"iterations":5}')"
    get="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$api/v1/jobs/$id" | awk '/Requests\/sec/ {print $2}')"
    # The worker stays off the cores while the POSTs queue jobs nobody runs.
    kill -STOP "${running[1]}"
    post="$(BENCH_PHOTO="$photo" wrk -t2 -c8 -d"${DURATION}s" -s scripts/bench/post_job.lua \
      "$api/v1/jobs" | awk '/Requests\/sec/ {print $2}')"
    psql -h 127.0.0.1 -U postgres -d "$stack_database" -qc "UPDATE jobs SET state = 'canceled' WHERE state = 'queued'"
    rabbitmqctl -q purge_queue "$stack_queue" >/dev/null
    kill -CONT "${running[1]}"
    runs=()
    for _ in $(seq "$RUNS"); do runs+=("$(run_seconds)"); done
    stop
    echo "round $round export $export: status $get/s, submissions $post/s, job runs ${runs[*]} s"
  done
done
echo "== the receiver took $(wc -l <"$batches") batches, $(awk '{s += $1} END {print s + 0}' "$batches") bytes"
rm -f "$batches"
