#!/usr/bin/env bash
# Does starting the optimisation from the fast network's picture pay? For each painting,
# runs the `stylize` CLI on tubingen with the job defaults (L-BFGS) once per start variant
# and prints the objective's loss after 50, 100, 200, 300 and 500 iterations, and how many
# iterations each variant needs to reach the loss that init=content reaches at the end.
# Previews every 50 iterations land in var/bench/warm-start/STYLE/VARIANT/ and one figure
# (the variants side by side at equal iteration counts) in var/bench/warm-start/figure.jpg.
# Losses do not depend on the machine's load, so this may run at low priority.
#
# Usage: scripts/bench/warm_start.sh [SIZE=512] [ITERATIONS=500] [STYLES="starry-night great-wave the-scream"] [VARIANTS="content fast fast-coarse"]
# Variants: content (the photo), fast (the fast network's picture), fast-coarse (the fast
# picture, optimised at half size for the first half of the iterations, then at full size)
# and content-coarse (the same from the photo: what coarse-to-fine alone gives).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"
SIZE=${1:-512}
ITERATIONS=${2:-500}
STYLES=${3:-starry-night great-wave the-scream}
VARIANTS=${4:-content fast fast-coarse}
CHECKPOINTS="50 100 200 300 500"
out="$STYLIZE_VAR/bench/warm-start"
mkdir -p "$out"
[ -x target/release/stylize ] || cargo build --release --quiet --workspace --bin stylize

variant_args() {
  case "$1" in
    content) echo "--init content" ;;
    fast) echo "--init fast" ;;
    fast-coarse) echo "--init fast --scales 2" ;;
    content-coarse) echo "--init content --scales 2" ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}

for style in $STYLES; do
  for variant in $VARIANTS; do
    dir="$out/$style/$variant"
    rm -rf "$dir" && mkdir -p "$dir/previews"
    # shellcheck disable=SC2046
    target/release/stylize -c "$STYLIZE_ASSETS/content/tubingen.jpg" \
      -s "$STYLIZE_ASSETS/styles/$style.jpg" -o "$dir/result.png" --device cpu \
      --size "$SIZE" -n "$ITERATIONS" --seed 0 $(variant_args "$variant") \
      --log-every 10 --preview-dir "$dir/previews" --preview-every 50 \
      >"$dir/log" 2>&1 || { cat "$dir/log" >&2; exit 1; }
    echo "$style $variant: $(grep '^done' "$dir/log")" >&2
  done
done

# The table, from the logs: "iteration N elapsed Xs loss L …" every 10 iterations.
"$STYLIZE_VENV/bin/python" - "$out" "$SIZE" "$ITERATIONS" "$CHECKPOINTS" "$STYLES" "$VARIANTS" <<'PY'
import re, sys
from pathlib import Path
from PIL import Image, ImageDraw
out, size, iterations = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
checkpoints = [int(c) for c in sys.argv[4].split() if int(c) <= iterations]
styles, variants = sys.argv[5].split(), sys.argv[6].split()
line = re.compile(r"^iteration (\d+) elapsed \S+ loss (\S+)")

def losses(style, variant):
    found = {}
    for text in (out / style / variant / "log").read_text().splitlines():
        if m := line.match(text):
            found[int(m[1])] = float(m[2])
    return found

# A coarse-to-fine run's loss is at half size until its second half: not comparable.
def comparable(variant, iteration):
    return not variant.endswith("-coarse") or iteration > iterations // 2

print(f"# loss of the objective at {size} px (L-BFGS, job defaults); '-' = still at half size")
print("painting".ljust(16) + "variant".ljust(13) + "".join(f"{c:>11}" for c in checkpoints)
      + "   iterations to content's final loss")
for style in styles:
    if "content" not in variants:
        break
    target = losses(style, "content")[iterations]
    for variant in variants:
        found = losses(style, variant)
        cells = "".join(f"{found[c]:>11.4e}" if comparable(variant, c) else f"{'-':>11}"
                        for c in checkpoints)
        reached = next((i for i in sorted(found) if comparable(variant, i) and found[i] <= target), None)
        print(style.ljust(16) + variant.ljust(13) + cells + f"   {reached if reached else f'> {iterations}'}")

# The figure: one row per painting and variant, previews at equal iteration counts.
shown = [c for c in (50, 100, 250, iterations) if c <= iterations]
thumb = 256
rows = [(s, v) for s in styles for v in variants]
# Rows as tall as the photo's thumbnails (every run paints the same photo).
first = Image.open(out / rows[0][0] / rows[0][1] / "result.png")
row_height = thumb * first.height // first.width
label_width = 130
figure = Image.new("RGB", (label_width + thumb * len(shown), 24 + row_height * len(rows)), "white")
draw = ImageDraw.Draw(figure)
for i, c in enumerate(shown):
    draw.text((label_width + i * thumb + 4, 6), f"iteration {c}", fill="black")
for r, (style, variant) in enumerate(rows):
    draw.text((4, 24 + r * row_height + row_height // 2), f"{style}\ninit={variant}", fill="black")
    for i, c in enumerate(shown):
        path = out / style / variant / ("result.png" if c == iterations else f"previews/{c:05}.png")
        if path.exists():
            image = Image.open(path).convert("RGB")
            image.thumbnail((thumb, thumb))
            figure.paste(image, (label_width + i * thumb, 24 + r * row_height))
figure.save(out / "figure.jpg", quality=85)
print(f"figure: {out / 'figure.jpg'}")
PY
