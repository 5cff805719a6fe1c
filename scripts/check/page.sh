#!/usr/bin/env bash
# The page's browser tests (web/tests) in headless Chromium against a real stack of its
# own: the api serving the built page on :8096 and one CPU worker. Called by
# scripts/test.sh after set-up and services.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"
export STYLIZE__WORKER__DEVICE=cpu
# With API keys on: the page works with the visitor's own key, minted for its browser.
export STYLIZE__AUTH__REQUIRED=true
# The tests' one browser submits faster than a visitor may; the limits have their own
# tests (tests/tests/e2e/access.rs).
export STYLIZE__AUTH__VISITOR_SUBMISSIONS_PER_MINUTE=1000 STYLIZE__AUTH__VISITOR_MAX_ACTIVE_JOBS=100
export STYLIZE__AUTH__ADDRESS_SUBMISSIONS_PER_MINUTE=1000 STYLIZE__AUTH__ADDRESS_SESSIONS_PER_MINUTE=1000
# The page's photo-by-address test serves its photo from 127.0.0.2.
export STYLIZE__FETCH__ALLOWED_NETWORKS=127.0.0.2/32
source scripts/lib/stack.sh page 8096
stack_start_api
stack_start_worker

mkdir -p "$STYLIZE_VAR"
cd web
STYLIZE_PAGE_URL="$stack_url" STYLIZE_SCREENSHOT="$STYLIZE_VAR/page.png" npm test
