#!/usr/bin/env bash
# The `quick` quality through the whole service (docs/benchmarks/quality.md, "Quick"):
# tubingen with each of the reference's three paintings, RUNS rounds, one job at a time
# on an idle CPU worker, timed from the job's start (`started_at`: the worker took it)
# to its result (`finished_at`: the picture stored), as the api reports them; prints
# each job's seconds, then the minimum, median and maximum, and the page's estimate for
# the same job from the worker's measured speed (GET /v1/queue, GET /v1/qualities).
# Uses its own database and queue (stylize_quick, stylize.quick). Not part of the tests.
# Usage: scripts/bench/quick.sh   (RUNS=3 QUALITY=quick SIZE=512 to change)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RUNS="${RUNS:-3}"
QUALITY="${QUALITY:-quick}"
SIZE="${SIZE:-512}"

bench_stack quick 8098
stack_start_worker 127.0.0.1:9198
bench_machine
echo "== $QUALITY at $SIZE px, tubingen, $RUNS rounds of three paintings, one job at a time"

seconds=()
for round in $(seq "$RUNS"); do
  for painting in starry-night the-scream shipwreck-of-the-minotaur; do
    id="$(submit_job -F "content=@$STYLIZE_ASSETS/content/tubingen.jpg" -F "preset=$painting" \
      -F "params={\"quality\":\"$QUALITY\",\"size\":$SIZE}")"
    while :; do
      job="$(curl -sf "$api/v1/jobs/$id")"
      state="$("$python" -c 'import json, sys; print(json.load(sys.stdin)["state"])' <<<"$job")"
      case "$state" in succeeded) break ;; failed|canceled) echo "$job" >&2; exit 1 ;; esac
      sleep 0.5
    done
    took="$("$python" -c '
import json, sys
from datetime import datetime
job = json.load(sys.stdin)
at = lambda field: datetime.fromisoformat(job[field].replace("Z", "+00:00"))
took = at("finished_at") - at("started_at")
print(f"{took.total_seconds():.1f}")' <<<"$job")"
    echo "round $round, $painting: $took s"
    seconds+=("$took")
  done
done
printf '%s\n' "${seconds[@]}" | sort -n | "$python" -c '
import statistics, sys
values = [float(line) for line in sys.stdin]
print(f"== start to result: min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s")'
# The page estimate (web/src/app.ts, estimateSeconds) for a 512×384 photo.
curl -sf "$api/v1/queue" >"$STYLIZE_VAR/quick-queue.json"
curl -sf "$api/v1/qualities" | "$python" -c '
import json, sys
qualities = {q["name"]: q for q in json.load(sys.stdin)["qualities"]}
workers = json.load(open(sys.argv[1]))["workers"]
rate = workers[0]["seconds_per_iteration_per_megapixel"]
fast = workers[0]["fast_pass_seconds_per_megapixel"] or 0
size = int(sys.argv[3])
megapixels = size * round(size * 3 / 4) / 1e6
cost = qualities[sys.argv[2]]["full_size_iterations"]
print(f"== the page would say: {(cost * rate + fast) * megapixels:.0f} s ({cost:.1f} full-size iterations × {rate:.2f} s per megapixel + fast pass {fast:.3f} s per megapixel, × {megapixels:.3f} MP)")
' "$STYLIZE_VAR/quick-queue.json" "$QUALITY" "$SIZE"
