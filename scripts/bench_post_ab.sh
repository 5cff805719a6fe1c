#!/usr/bin/env bash
# POST /v1/jobs (a 1 MB JPEG, 8 connections, 10 s under wrk) against two api binaries in
# one run, alternating for 3 rounds: OTHER (e.g. built at an older commit with
# `git worktree add /tmp/old COMMIT && cargo build --release -p stylize-api` there) and
# this checkout's target/release/stylize-api. Each has its own database and queue.
# Usage: scripts/bench_post_ab.sh OTHER_API_BINARY   (scripts/bench_service.sh makes the photo)
set -euo pipefail
other="$(realpath "$1")"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STYLIZE_ROOT"
scripts/services.sh >/dev/null
photo="$STYLIZE_VAR/bench/photo-1mb.jpg"
[ -s "$photo" ] || { echo "no $photo: run scripts/bench_service.sh once" >&2; exit 1; }
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true
  for v in old new; do dropdb -h 127.0.0.1 -U postgres --if-exists --force "stylize_ab_$v" || true
    rabbitmqctl -q delete_queue "stylize.ab.$v" >/dev/null 2>&1 || true
    rabbitmqctl -q delete_queue "stylize.ab.$v.dead" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
declare -A port=([old]=8098 [new]=8099) bin=([old]="$other" [new]=target/release/stylize-api)
for v in old new; do
  dropdb -h 127.0.0.1 -U postgres --if-exists --force "stylize_ab_$v"; createdb -h 127.0.0.1 -U postgres "stylize_ab_$v"
  STYLIZE__DATABASE__URL="postgres://postgres@127.0.0.1:5432/stylize_ab_$v" STYLIZE__AMQP__QUEUE="stylize.ab.$v" \
  STYLIZE__HTTP__PORT="${port[$v]}" STYLIZE__PRESETS__DIR="$STYLIZE_ASSETS/styles" RUST_LOG=warn "${bin[$v]}" &
  pids+=($!)
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:${port[$v]}/readyz" >/dev/null && break; sleep 0.2; done
done
for round in 1 2 3; do
  for v in old new; do
    echo "== round $round: $v"
    BENCH_PHOTO="$photo" wrk -t2 -c8 -d10s --latency -s scripts/bench/post_job.lua "http://127.0.0.1:${port[$v]}/v1/jobs" \
      | grep -E "Requests/sec|50%|99%|Non-2xx"
  done
done
