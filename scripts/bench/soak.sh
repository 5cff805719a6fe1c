#!/usr/bin/env bash
# A soak run (not part of the tests): MINUTES of submissions every INTERVAL_MS with
# WORKERS CPU workers on loopback, its own database and queue; reports jobs submitted,
# succeeded, failed and lost (must be 0) and latencies, and fails if any job was lost.
# Usage: scripts/bench/soak.sh   (MINUTES=5 INTERVAL_MS=2000 WORKERS=2 to change)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MINUTES="${MINUTES:-5}"
INTERVAL_MS="${INTERVAL_MS:-2000}"
WORKERS="${WORKERS:-2}"

export STYLIZE__WORKER__THREADS=1
bench_stack soak 8091
for _ in $(seq "$WORKERS"); do stack_start_worker; done
echo "== soak: $MINUTES min, a job every $INTERVAL_MS ms, $WORKERS workers, $(nproc) cores"
target/release/soak "$stack_url" "$STYLIZE_ASSETS/content/tubingen.jpg" "$MINUTES" "$INTERVAL_MS" 120
