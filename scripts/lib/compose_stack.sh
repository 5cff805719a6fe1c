# Sourced by scripts/check/containers.sh and scripts/bench/containers.sh: docker-compose.yml
# run on this machine's podman (scripts/lib/podman.sh) with the local stand-ins for the
# third-party images (deploy/compose/local-images.yml), under project COMPOSE_STACK
# (set before sourcing) with its own .env, its api on COMPOSE_STACK_PORT; the images'
# builds, and helpers that read the running stack.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/podman.sh"
PROJECT="${COMPOSE_STACK:?name the compose project}"
PORT="${COMPOSE_STACK_PORT:?give the api a host port}"
API="http://127.0.0.1:$PORT"
PHOTO="$STYLIZE_ASSETS/content/tubingen.jpg"
env_file="$CONTAINERS_DIR/$PROJECT.env"

compose() {
  docker-compose --env-file "$env_file" -p "$PROJECT" \
    -f docker-compose.yml -f deploy/compose/local-images.yml -f deploy/compose/test.yml "$@"
}

# The engine, its API and the health-check loop, until stack_cleanup.
stack_engine() {
  podman_install
  podman_serve
  podman_health_loop
}

# Takes the stack down with its volumes and stops the engine's helpers.
stack_cleanup() {
  # (A signal to the process group may have ended podman's API service too.)
  podman_serve >/dev/null 2>&1 || true
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  podman_stop_helpers
}

# A fresh .env: random secrets (the admin token among them: $admin_token) and the
# stack's ports.
stack_env() {
  rm -f "$env_file"
  deploy/compose/make-env.sh "$env_file" >/dev/null
  admin_token="$(grep ^STYLIZE_ADMIN_TOKEN= "$env_file" | cut -d= -f2)"
  printf 'STYLIZE_PORT=%s\nRABBITMQ_MANAGEMENT_PORT=%s\n' "$PORT" "$((PORT + 1))" >> "$env_file"
}
# The stack runs with API keys on: the helpers below send $api_key, which stack_key
# makes with the admin token once the api is ready.
api_key=""
stack_key() {
  api_key="$(curl -fsS -X POST -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"name": "container tests"}' "$API/v1/admin/keys" | jq -r '.key // empty')"
  [ -n "$api_key" ]
}
api() { curl -H "Authorization: Bearer $api_key" "$@"; } # CURL-ARGS...: with the stack's key

# Every image the stack runs: the base, the stand-ins, garage-init, and stylize's api
# and CPU worker from this checkout's release build (deploy/docker/dist.sh). Layers
# are cached in podman's storage, so an unchanged image takes seconds.
image_build() { # IMAGE CONTEXT DOCKERFILE [BUILD-ARG...], on the local base
  local image="$1" context="$2" file="$3"; shift 3
  local args=(--build-arg "BASE=$STYLIZE_BASE_IMAGE")
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  podman build --quiet --layers "${args[@]}" -f "$file" -t "$image" "$context" >/dev/null
}
stack_images() {
  local service garage_context="$CONTAINERS_DIR/garage-context"
  podman_base_image
  for service in postgres:15 redis:7 rabbitmq:3; do
    image_build "localhost/stylize-local/$service" deploy/compose/local "deploy/compose/local/${service%%:*}.Dockerfile"
  done
  mkdir -p "$garage_context"
  cp -u "$(command -v garage)" "$garage_context/garage"
  image_build localhost/stylize-local/garage:2.5.0 "$garage_context" deploy/compose/local/garage.Dockerfile
  image_build stylize/garage-init deploy/compose deploy/compose/garage-init.Dockerfile
  deploy/docker/dist.sh api deploy/dist/api
  deploy/docker/dist.sh worker deploy/dist/worker-cpu cpu
  image_build stylize/api . deploy/docker/api.Dockerfile DIST=prebuilt
  image_build stylize/worker:cpu . deploy/docker/worker.Dockerfile DIST=prebuilt FLAVOUR=cpu
}

container_of() { # SERVICE [N]: the Nth container of a service (1)
  podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | sort | sed -n "${2:-1}p"
}
sql() { # QUERY: one value per line, from the stack's PostgreSQL
  podman exec "$(container_of postgres)" psql -U stylize -d stylize -tA -c "$1"
}
within() { # SECONDS COMMAND...: tries the command every second until it succeeds, for
  # at most SECONDS
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 1; done
}
ready() { curl -fs -o /dev/null "$API/readyz"; }
wait_ready() { within "$1" ready; } # SECONDS
# (Both answer nothing, and succeed, when the api refuses or is away: the callers count.)
submit() { # PARAMS [PRESET]: the new job's id on stdout, nothing if not accepted
  api -fsS --max-time 30 -F "content=@$PHOTO" -F "preset=${2:-starry-night}" \
    --form-string "params=$1" "$API/v1/jobs" 2>/dev/null | jq -r '.id // empty' || true
}
state() { api -fsS --max-time 10 "$API/v1/jobs/$1" 2>/dev/null | jq -r '.state // empty' || true; }
terminal() { case "$(state "$1")" in succeeded | failed | canceled) return 0 ;; *) return 1 ;; esac; }
wait_terminal() { # SECONDS ID...: all terminal in time
  local deadline=$((SECONDS + $1)); shift
  for id in "$@"; do within $((deadline - SECONDS)) terminal "$id" || return 1; done
}
all_succeeded() { for id in "$@"; do [ "$(state "$id")" = succeeded ] || return 1; done; }
succeed() { # SECONDS ID...: all end, and all succeeded
  wait_terminal "$@" && all_succeeded "${@:2}"
}
accepted() { for id in "$@"; do [ -n "$id" ] || return 1; done; }
result_is_png() { # ID
  api -fsS --max-time 30 "$API/v1/jobs/$1/result" -o "$CONTAINERS_DIR/result.png" \
    && [ "$(head -c 8 "$CONTAINERS_DIR/result.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
}
worker_of() { sql "SELECT worker FROM jobs WHERE id = '$1'"; }
container_of_worker() { # WORKER NAME (hostname-suffix): its container (the hostname is the id's start)
  podman ps -q --no-trunc | grep "^${1%-*}" | head -n 1
}
crash() { # CONTAINER: SIGKILL to its main process, as a crash (podman kill would count as
  # a stop asked for, which restart policies respect); compose's restart policy brings it back.
  kill -s KILL "$(podman inspect --format '{{.State.Pid}}' "$1")"
}
workers_at_least() { # N
  [ "$(api -fsS "$API/v1/queue" 2>/dev/null | jq '.workers | length' || echo 0)" -ge "$1" ]
}
wait_workers() { within "$2" workers_at_least "$1"; } # N SECONDS
running() { # ID: running with a few iterations done
  [ "$(api -fsS "$API/v1/jobs/$1" 2>/dev/null | jq -r '.progress.iteration // 0' || echo 0)" -gt 2 ]
}
wait_running() { within "$1" running "$2"; } # SECONDS ID

