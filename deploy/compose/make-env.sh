#!/usr/bin/env bash
# Writes a .env for docker compose with fresh random secrets (from .env.example's list).
# Usage: deploy/compose/make-env.sh [FILE=.env]; refuses to overwrite an existing file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
file="${1:-.env}"
[ ! -e "$file" ] || { echo "make-env.sh: $file exists; remove it first" >&2; exit 1; }
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
cat > "$file" <<ENV
COMPOSE_PROJECT_NAME=stylize
POSTGRES_PASSWORD=$(hex 16)
RABBITMQ_PASSWORD=$(hex 16)
GARAGE_RPC_SECRET=$(hex 32)
GARAGE_ADMIN_TOKEN=$(hex 32)
S3_ACCESS_KEY=GK$(hex 12)
S3_SECRET_KEY=$(hex 32)
STYLIZE_ADMIN_TOKEN=$(hex 32)
ENV
echo "make-env.sh: wrote $file"
