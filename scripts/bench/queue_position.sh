#!/usr/bin/env bash
# The status benchmark of docs/benchmarks/service.md (GET /v1/jobs/{id} under wrk, as
# bench/service.sh runs it) with and without the queue position, in one run: a queued job's status counts
# the jobs ahead of it and reads the queue's figures (kept a second); a canceled job's
# reads only its row, as every status did before queue positions. The two alternate for
# ROUNDS rounds. AHEAD queued jobs stand before the measured one (rows copied in SQL;
# no worker runs, so none moves). Uses its own database and queue. Not part of the tests.
# Usage: scripts/bench/queue_position.sh   (DURATION=10 CONNECTIONS=32 ROUNDS=3 AHEAD=100)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-3}"
AHEAD="${AHEAD:-100}"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
bench_stack position 8098

submit() {
  submit_job -F "content=@$STYLIZE_ASSETS/content/tubingen.jpg" -F preset=starry-night \
    -F 'params={"size":64,"iterations":5}'
}
first="$(submit)"
psql -h 127.0.0.1 -U postgres -d "$stack_database" -qc "
  INSERT INTO jobs (id, state, params, styles, width, height, created_at, updated_at)
  SELECT gen_random_uuid(), 'queued', params, styles, width, height,
         now() - make_interval(secs => 3600 - n), now() - make_interval(secs => 3600 - n)
  FROM jobs, generate_series(1, $AHEAD - 1) AS n WHERE id = '$first'"
queued="$(submit)"
canceled="$(submit)"
curl -sf -X POST "$api/v1/jobs/$canceled/cancel" >/dev/null
bench_machine
echo "== the queued job: $(curl -sf "$api/v1/jobs/$queued" |
  "$STYLIZE_VENV/bin/python" -c 'import json, sys; j = json.load(sys.stdin); print("queue_position", j["queue_position"], "estimated_start_at", j["estimated_start_at"])')"

for round in $(seq "$ROUNDS"); do
  for job in queued canceled; do
    id="${!job}"
    summary="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$api/v1/jobs/$id" |
      awk '/Requests\/sec/ {rate = $2} /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
           END {print rate " requests/s, p50 " p50 ", p99 " p99}')"
    echo "round $round, $job job: $summary"
  done
done
