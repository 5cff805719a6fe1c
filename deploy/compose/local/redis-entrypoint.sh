#!/bin/sh
set -eu
[ "${1:-}" != redis-server ] || shift
exec redis-server --bind 0.0.0.0 --protected-mode no "$@"
