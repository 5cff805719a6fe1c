#!/usr/bin/env bash
# The page's browser tests (web/tests) in headless Chromium against a real stack of its
# own: the api serving the built page on :8096 and one CPU worker. Called by
# scripts/test.sh after set-up and services.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STYLIZE_ROOT"
export STYLIZE__WORKER__DEVICE=cpu
# With API keys on: the page works with the key the operator gives it.
export STYLIZE__AUTH__REQUIRED=true
STYLIZE__AUTH__PAGE_KEY="page-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export STYLIZE__AUTH__PAGE_KEY
# The page's photo-by-address test serves its photo from 127.0.0.2.
export STYLIZE__FETCH__ALLOWED_NETWORKS=127.0.0.2/32
source scripts/stack.sh page 8096
stack_start_api
stack_start_worker

mkdir -p "$STYLIZE_VAR"
cd web
STYLIZE_PAGE_URL="$stack_url" STYLIZE_SCREENSHOT="$STYLIZE_VAR/page.png" npm test
