#!/usr/bin/env bash
# The README's screenshot (docs/page.jpg), made from the running page: a stack of its own
# (api on :8097 and one CPU worker), the sample photo painted in Chromium with a preset
# at the page's default size, captured when done. Rerun it whenever the page changes.
# Usage: scripts/screenshot.sh   (PRESET=starry-night QUALITY=quick to change; after
# scripts/setup.sh and scripts/services.sh, with Debian's chromium installed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STYLIZE_ROOT"
export STYLIZE__WORKER__DEVICE=cpu
source scripts/lib/stack.sh screenshot 8097
stack_start_api
stack_start_worker

mkdir -p "$STYLIZE_VAR"
(cd web && STYLIZE_PAGE_URL="$stack_url" STYLIZE_SCREENSHOT="$STYLIZE_VAR/page.png" node tools/screenshot.mjs)
"$STYLIZE_VENV/bin/python" - "$STYLIZE_VAR/page.png" docs/page.jpg <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2], quality=85, optimize=True)
PY
echo "screenshot: docs/page.jpg"
