#!/usr/bin/env bash
# POST /v1/jobs at full speed (docs/benchmarks/service.md, "Submissions at full speed"):
# a 1 MB JPEG in a body wrk prepares once (scripts/bench/post_job.lua), 8 connections,
# against two api binaries alternating in one run: OTHER (e.g. a copy of
# target/release/stylize-api made before a change) and THIS (by default this checkout's
# target/release/stylize-api; a copy keeps a build running alongside from replacing it).
# Each runs as deployed: API keys on (one key each, its limits far above the rate, so
# every request still pays the rate limiter and the active-job count) and logging at
# `info` (to var/bench/submit-api-{old,new}.log). Each has its own database and queue;
# between runs the queued jobs are canceled and the queue purged, so every run starts
# alike; at the end every job's inputs are deleted from S3.
# Usage: scripts/bench/submit.sh OTHER_API_BINARY [THIS_API_BINARY]
#   ROUNDS=3 DURATION=10 CONNECTIONS=8; PROFILE=FILE records `perf record -a -g` (the
#   whole machine) during THIS api's last run; KEYS=off LOG=warn runs both apis without
#   API keys and logging only warnings, as the rows of issue 10 were measured (then the
#   jobs' inputs stay in the bucket: no key's jobs to delete).
set -euo pipefail
other="$(realpath "$1")"
this="$(realpath "${2:-$(dirname "${BASH_SOURCE[0]}")/../../target/release/stylize-api}")"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS="${ROUNDS:-3}"
KEYS="${KEYS:-on}"
LOG="${LOG:-info}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
scripts/services.sh >/dev/null
photo="$(bench_photo)"
admin=bench-submit-admin-token
# post_job.lua, with the key's header added when keys are on.
script="$(mktemp --suffix=.lua)"
printf 'dofile("%s")\n' "$STYLIZE_ROOT/scripts/bench/post_job.lua" >"$script"
if [ "$KEYS" = on ]; then
  printf 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")\n' >>"$script"
  auth=(STYLIZE__AUTH__REQUIRED=true STYLIZE__AUTH__ADMIN_TOKEN="$admin"
    STYLIZE__AUTH__SUBMISSIONS_PER_MINUTE=10000000 STYLIZE__AUTH__MAX_ACTIVE_JOBS=10000000)
else
  auth=()
fi

declare -A port=([old]=8096 [new]=8095) bin=([old]="$other" [new]="$this")
declare -A pid key key_id
cleanup() {
  for v in "${!pid[@]}"; do
    [ -n "${key_id[$v]:-}" ] && curl -sf -X DELETE -H "Authorization: Bearer $admin" --max-time 900 \
      "http://127.0.0.1:${port[$v]}/v1/admin/keys/${key_id[$v]}/jobs" >/dev/null || true
    kill "${pid[$v]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  for v in old new; do dropdb -h 127.0.0.1 -U postgres --if-exists --force "stylize_submit_$v" || true
    rabbitmqctl -q delete_queue "stylize.submit.$v" >/dev/null 2>&1 || true
    rabbitmqctl -q delete_queue "stylize.submit.$v.dead" >/dev/null 2>&1 || true; done
  rm -f "$script"
}
trap cleanup EXIT

for v in old new; do
  dropdb -h 127.0.0.1 -U postgres --if-exists --force "stylize_submit_$v"
  createdb -h 127.0.0.1 -U postgres "stylize_submit_$v"
  STYLIZE__DATABASE__URL="postgres://postgres@127.0.0.1:5432/stylize_submit_$v" \
  STYLIZE__AMQP__QUEUE="stylize.submit.$v" STYLIZE__HTTP__PORT="${port[$v]}" \
  STYLIZE__PRESETS__DIR="$STYLIZE_ASSETS/styles" \
  env "${auth[@]}" RUST_LOG="$LOG" "${bin[$v]}" &>"$STYLIZE_VAR/bench/submit-api-$v.log" &
  pid[$v]=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:${port[$v]}/readyz" >/dev/null && break; sleep 0.2; done
  [ "$KEYS" = on ] || continue
  created="$(curl -sf -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"name": "bench"}' "http://127.0.0.1:${port[$v]}/v1/admin/keys")"
  key[$v]="$(jq -r .key <<<"$created")"
  key_id[$v]="$(jq -r .id <<<"$created")"
done

bench_machine
echo "== photo: $(stat -c %s "$photo") bytes; ${DURATION}s runs, $CONNECTIONS connections"
for round in $(seq "$ROUNDS"); do
  for v in old new; do
    psql -h 127.0.0.1 -U postgres -d "stylize_submit_$v" -qc \
      "UPDATE jobs SET state = 'canceled' WHERE state = 'queued'"
    rabbitmqctl -q purge_queue "stylize.submit.$v" >/dev/null
    perf_pid=
    if [ -n "${PROFILE:-}" ] && [ "$round" = "$ROUNDS" ] && [ "$v" = new ]; then
      perf record -F 499 -a -g -o "$PROFILE" -- sleep "$((DURATION - 2))" 2>/dev/null &
      perf_pid=$!
    fi
    out="$(BENCH_PHOTO="$photo" BENCH_KEY="${key[$v]:-}" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" \
      --latency -s "$script" "http://127.0.0.1:${port[$v]}/v1/jobs")"
    [ -z "$perf_pid" ] || wait "$perf_pid"
    rate="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errors="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
    echo "round $round $v: $rate jobs/s, p50 $p50, p99 $p99 ${errors:+($errors)}"
  done
done
