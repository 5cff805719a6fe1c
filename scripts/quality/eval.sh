#!/usr/bin/env bash
# The held-out quality evaluation (docs/benchmarks/quality.md, "Qualities on photos
# never tuned for"): every photo × every preset painting × every setting, painted at
# SIZE px (384 by default, so that the reference's settings fit the time; the issue
# allows it) and scored there as the quality benchmark scores (style error, content
# error; lower is better).
# Each finished run appends one line to RESULTS, and a run already there is skipped, so
# the script can run unattended for hours, be stopped at any point and resume where it
# stopped (only the run under way is lost). The cheap settings run first over all pairs.
#
# Usage: scripts/quality/eval.sh [SETTING...]
#   SETTING: LABEL=QUALITY[+JSON], as the quality benchmark takes it, or one of the
#   default labels: quick, draft, reference (the yardstick: the reference's settings,
#   500 iterations) and fine, in that order when none is given.
#   Environment: SIZE, RESULTS (default docs/quality/pairs-SIZE.tsv, committed, so that the next
#   session resumes too), OUT_DIR (pictures; default var/quality-eval), PHOTOS (files
#   under assets/, default the sample photo and assets/photos/*), PAINTINGS (default the
#   six presets), DEVICE (cpu).
#   scripts/quality/summary.py turns RESULTS into the tables.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/env.sh

# jcjohnson/neural-style's defaults through this engine (docs/benchmarks/quality.md,
# "The Pareto curve"), 500 iterations (within about 2 % of 1000 there).
YARDSTICK='reference=classic+{"optimizer":"lbfgs","iterations":500,"content_layers":[{"layer":"conv4_2","weight":1}],"content_weight":5,"style_weight":100,"tv_weight":0,"init":"noise","relative_loss":false}'
[ $# -gt 0 ] || set -- quick draft reference fine
settings=()
for setting in "$@"; do
  case "$setting" in
    *=*) settings+=("$setting") ;;
    reference) settings+=("$YARDSTICK") ;;
    *) settings+=("$setting=$setting") ;;
  esac
done
export SIZE=${SIZE:-384}
RESULTS=${RESULTS:-docs/quality/pairs-$SIZE.tsv}
OUT_DIR=${OUT_DIR:-var/quality-eval}
PHOTOS=${PHOTOS:-"content/tubingen.jpg $(cd assets && ls photos/*.jpg | tr '\n' ' ')"}
PAINTINGS=${PAINTINGS:-$(cd assets/styles && ls *.jpg | sed 's/\.jpg$//' | tr '\n' ' ')}
mkdir -p "$(dirname "$RESULTS")" "$OUT_DIR"
touch "$RESULTS"

cargo build --release --quiet --workspace --example quality

for setting in "${settings[@]}"; do
  label=${setting%%=*}
  for photo in $PHOTOS; do
    name=$(basename "$photo"); name=${name%.*}
    for painting in $PAINTINGS; do
      if grep -q "^$name	$painting	$label	" "$RESULTS"; then
        continue
      fi
      echo "eval: $label, $name × $painting" >&2
      CONTENT=$photo PAINTINGS=$painting RESULTS=$RESULTS \
        target/release/examples/quality "$OUT_DIR/$name" "$setting" >/dev/null
    done
  done
done
echo "eval: every run is in $RESULTS" >&2
