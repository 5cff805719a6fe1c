# Sourced by the service benchmarks: the steps they open with, once.
#   bench_machine           prints the machine the numbers come from
#   bench_stack NAME PORT   starts the local services, builds the binaries and starts an
#                           api on a throwaway stack (lib/stack.sh); sets $api
#   bench_photo             prints the path of a 1 MB JPEG of tubingen, made once
#   submit_job CURL_ARGS…   posts a job to $api and prints its id
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"
python="$STYLIZE_VENV/bin/python"

bench_machine() {
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
}

bench_stack() {
  scripts/services.sh >/dev/null
  cargo build --release --workspace --bins --quiet
  source scripts/lib/stack.sh "$1" "$2"
  api="$stack_url"
  stack_start_api
}

bench_photo() {
  local photo="$STYLIZE_VAR/bench/photo-1mb.jpg"
  if [ ! -s "$photo" ]; then
    mkdir -p "$(dirname "$photo")"
    "$python" - "$STYLIZE_ASSETS/content/tubingen.jpg" "$photo" <<'PY'
import sys
from PIL import Image
# Upscaled until the JPEG weighs at least 1 MB (1 000 000 bytes).
photo = Image.open(sys.argv[1])
width = photo.width
while True:
    photo.resize((width, width * 3 // 4), Image.LANCZOS).save(sys.argv[2], quality=95)
    with open(sys.argv[2], "rb") as written:
        if len(written.read()) >= 1_000_000:
            break
    width += 64
PY
  fi
  echo "$photo"
}

submit_job() {
  curl -sf "$@" "$api/v1/jobs" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

