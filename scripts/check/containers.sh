#!/usr/bin/env bash
# The deployment, tested in containers on this machine: podman (Debian's) as the engine,
# docker-compose (Debian's) against its Docker API. Builds the base, the stand-ins for the
# third-party images (deploy/compose/local-images.yml) and stylize's images, brings
# docker-compose.yml up under its own project name and ports, and checks each promise
# with a PASS or FAIL line; fails if any check failed. Called by scripts/test.sh after
# set-up; images are cached between runs under var/containers.
#
# Settings (environment): CONTAINER_SOAK_MINUTES (3), CONTAINER_CHAOS_SECONDS (30),
# CONTAINER_API_PORT (18080; RabbitMQ's management UI takes the next port).
set -euo pipefail
COMPOSE_STACK=stylize-test
COMPOSE_STACK_PORT="${CONTAINER_API_PORT:-18080}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/compose_stack.sh"
cd "$STYLIZE_ROOT"
SOAK_MINUTES="${CONTAINER_SOAK_MINUTES:-3}"
CHAOS_SECONDS="${CONTAINER_CHAOS_SECONDS:-30}"
SMALL='{"size": 64, "iterations": 20}'
started_at=$SECONDS
phase_at=$SECONDS
failures=0
failed=()

phase() { # NAME: closes the last phase with its time
  printf '\033[1mcontainers:\033[0m --- %s (%d s so far; last phase %d s)\n' "$1" $((SECONDS - started_at)) $((SECONDS - phase_at))
  phase_at=$SECONDS
}
pass() { printf 'containers: PASS %s\n' "$*"; }
fail() { printf 'containers: FAIL %s\n' "$*"; failures=$((failures + 1)); failed+=("$*"); }
check() { # DESCRIPTION COMMAND...: PASS or FAIL by the command's status
  local what="$1"; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

stack_engine
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] || [ "$failures" -gt 0 ]; then
    podman_serve >/dev/null 2>&1 || true
    echo "containers: the last lines of each service's log:"
    compose logs --no-color --tail=15 2>/dev/null | tail -n 150 || true
  fi
  stack_cleanup
  # Named last: CI shows only the tail of a long run.
  [ "$failures" -eq 0 ] || echo "containers: FAILED: $(printf '%s; ' "${failed[@]}")" >&2
}
trap cleanup EXIT
trap "exit 143" TERM INT

# --- images -------------------------------------------------------------------------
phase "images"
stack_images
for image in stylize/api stylize/worker:cpu; do
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  user="$(podman image inspect --format '{{.Config.User}}' "$image")"
  health="$(podman image inspect --format '{{if .Config.Healthcheck}}yes{{end}}' "$image" 2>/dev/null || true)"
  echo "containers: image $image: $((size / 1000000)) MB, user $user"
  check "$image runs as a non-root user" [ "$user" = 10001 ]
  check "$image has a health check" [ "$health" = yes ]
done
# --- bad configuration ----------------------------------------------------------------
phase "a missing secret"
rm -f "$CONTAINERS_DIR/incomplete.env"
deploy/compose/make-env.sh "$CONTAINERS_DIR/incomplete.env" >/dev/null
sed -i '/^POSTGRES_PASSWORD=/d' "$CONTAINERS_DIR/incomplete.env"
if output="$(env -u POSTGRES_PASSWORD docker-compose --env-file "$CONTAINERS_DIR/incomplete.env" -p "$PROJECT-incomplete" \
    -f docker-compose.yml up --no-start 2>&1)"; then
  fail "compose up without the secrets refuses to start"
else
  check "compose up without the secrets stops, naming POSTGRES_PASSWORD" \
    grep -q 'set POSTGRES_PASSWORD in .env' <<<"$output"
fi

# --- up ---------------------------------------------------------------------------------
phase "compose up (cold)"
stack_env
compose down -v --remove-orphans >/dev/null 2>&1 || true
up_started=$SECONDS
compose up -d --no-build >/dev/null
check "compose up: /readyz answers 200" wait_ready 300
echo "containers: compose up (cold, volumes new) to /readyz 200: $((SECONDS - up_started)) s"
check "garage-init made the layout, key and bucket (exit 0)" \
  [ "$(podman inspect --format '{{.State.ExitCode}}' "$(container_of garage-init)")" = 0 ]
page="$(curl -fsS "$API/" || true)"
check "the page is served on :$PORT" grep -qi '<html' <<<"$page"
check "the preset paintings are in the api image" \
  bash -c "[ \"\$(curl -fsS '$API/v1/styles' | jq '.styles | length')\" -ge 6 ]"
status_of() { curl -s -o /dev/null -w '%{http_code}' "$API$1"; } # PATH: its status, no key sent
check "keys are on: the jobs refuse a caller without a key (401)" [ "$(status_of /v1/jobs)" = 401 ]
check "/metrics is not on the public port (404)" [ "$(status_of /metrics)" = 404 ]
check "the admin token makes an API key" stack_key

phase "a full job and a fast job"
wait_workers 1 120 || fail "a worker reports itself in /v1/queue"
full="$(submit "$SMALL")"
fast="$(submit '{"mode": "fast", "size": 128}')"
check "a full job and a fast job are accepted" accepted "$full" "$fast"
check "both succeed" succeed 300 "$full" "$fast"
check "the full job's result downloads as a PNG" result_is_png "$full"
check "the fast job's result downloads as a PNG" result_is_png "$fast"

# --- scale --------------------------------------------------------------------------------
phase "three workers"
compose up -d --no-build --scale worker-cpu=3 >/dev/null
check "three workers report themselves in /v1/queue" wait_workers 3 180
jobs=()
for _ in $(seq 9); do jobs+=("$(submit "$SMALL")"); done
check "9 small jobs are accepted" accepted "${jobs[@]}"
check "9 small jobs succeed" succeed 600 "${jobs[@]}"
ids="$(printf "'%s'," "${jobs[@]}")"
served_by="$(sql "SELECT count(DISTINCT worker) FROM jobs WHERE id IN (${ids%,})")"
echo "containers: 9 jobs served by $served_by workers"
check "the 9 jobs were served by at least 2 workers" [ "$served_by" -ge 2 ]

# --- a worker killed, a worker stopped ------------------------------------------------
phase "a worker killed mid-job"
long='{"size": 128, "iterations": 150}'
job="$(submit "$long")"
if wait_running 120 "$job"; then
  victim="$(worker_of "$job")"
  crash "$(container_of_worker "$victim")"
  echo "containers: killed $victim (SIGKILL) at iteration $(api -fsS "$API/v1/jobs/$job" | jq .progress.iteration)"
  check "the killed worker's job succeeds" succeed 600 "$job"
  rescuer="$(worker_of "$job")"
  check "on another worker ($rescuer)" [ "$rescuer" != "$victim" ]
  check "with one result object" result_is_png "$job"
else
  fail "a long job runs"
fi
compose up -d --no-build --scale worker-cpu=3 >/dev/null

phase "a worker stopped with SIGTERM"
wait_workers 3 180 || true
job="$(submit "$long")"
if wait_running 120 "$job"; then
  victim="$(worker_of "$job")"
  container="$(container_of_worker "$victim")"
  # As `docker compose stop` does: SIGTERM, then SIGKILL after the grace period.
  podman stop --time 30 "$container" >/dev/null
  check "the stopped worker says it hands its job back" \
    bash -c "podman logs '$container' 2>&1 | grep -q 'handing back'"
  check "the handed-back job succeeds" succeed 600 "$job"
  check "the job's attempts count the hand-back once" [ "$(sql "SELECT attempts FROM jobs WHERE id = '$job'")" -le 2 ]
else
  fail "a long job runs"
fi
compose up -d --no-build --scale worker-cpu=3 >/dev/null

# --- the services restarted -----------------------------------------------------------
phase "RabbitMQ, Redis and PostgreSQL restarted while jobs run"
jobs=()
for _ in $(seq 4); do jobs+=("$(submit '{"size": 96, "iterations": 100}')"); done
for service in rabbitmq redis postgres; do
  sleep 5
  podman restart --time 10 "$(container_of "$service")" >/dev/null
  echo "containers: restarted $service"
done
check "/readyz comes back after the restarts" wait_ready 180
# A worker that starts while RabbitMQ is away waits, and says for what.
podman stop --time 10 "$(container_of rabbitmq)" >/dev/null
restarted_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
podman restart --time 30 "$(container_of worker-cpu)" >/dev/null
says_it_waits() { # its start-up retries name RabbitMQ
  podman logs --since "$restarted_at" "$(container_of worker-cpu)" 2>&1 | grep -q 'connecting to RabbitMQ; trying again'
}
check "a worker started without RabbitMQ says it waits for RabbitMQ" within 60 says_it_waits
check "and keeps running" [ "$(podman inspect --format '{{.State.Running}}' "$(container_of worker-cpu)")" = true ]
podman start "$(container_of rabbitmq)" >/dev/null
check "/readyz once RabbitMQ is back" wait_ready 180
check "every job ends in a terminal state" wait_terminal 600 "${jobs[@]}"
echo "containers: the jobs ended $(for id in "${jobs[@]}"; do state "$id"; done | sort | uniq -c | tr -s ' \n' ' ')"

# --- down and up, volumes kept ------------------------------------------------------------
phase "down, then up with the volumes kept"
kept="$full"
key="$(curl -fsS -X POST -H "Authorization: Bearer $admin_token" \
  -H 'Content-Type: application/json' -d '{"name": "kept"}' "$API/v1/admin/keys" | jq -r '.id // empty' || true)"
compose down >/dev/null
up_started=$SECONDS
compose up -d --no-build >/dev/null
check "/readyz after up" wait_ready 300
echo "containers: compose up (warm: images built, volumes kept) to /readyz 200: $((SECONDS - up_started)) s"
check "a job from before is still there, succeeded" [ "$(state "$kept")" = succeeded ]
check "and its result still downloads" result_is_png "$kept"
check "an API key made before is still there" \
  [ "$(sql "SELECT count(*) FROM api_keys WHERE id::text = '${key:-none}'")" = 1 ]

# --- the random-fault soak ------------------------------------------------------------------
phase "soak: $SOAK_MINUTES min of submissions, a fault every ~$CHAOS_SECONDS s"
compose up -d --no-build --scale worker-cpu=2 >/dev/null
wait_workers 2 180 || true
accepted="$CONTAINERS_DIR/soak-accepted"
: > "$accepted"
refused=0
faults=()
soak_end=$((SECONDS + SOAK_MINUTES * 60))
next_fault=$((SECONDS + CHAOS_SECONDS))
while [ "$SECONDS" -lt "$soak_end" ]; do
  id="$(submit "$SMALL")"
  if [ -n "$id" ]; then echo "$id" >> "$accepted"; else refused=$((refused + 1)); fi
  if [ "$SECONDS" -ge "$next_fault" ]; then
    service="$(printf '%s\n' worker-cpu api rabbitmq redis garage postgres | shuf -n 1)"
    action="$(printf '%s\n' kill restart | shuf -n 1)"
    target="$(container_of "$service")"
    if [ "$action" = kill ]; then crash "$target" 2>/dev/null || true
    else podman restart --time 10 "$target" >/dev/null 2>&1 || true; fi
    faults+=("$action:$service")
    echo "containers: fault $((${#faults[@]})): $action $service"
    next_fault=$((SECONDS + CHAOS_SECONDS))
  fi
  sleep 2
done
# The restart policy brings a crashed container back by itself: none should be down.
none_down() {
  [ -z "$(podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
    --filter status=exited --format '{{.Names}}' | grep -v garage-init)" ]
}
# (within 90 s: the last crash may be a moment old, and the engine may wait between
# restarts of a container that crashed before)
check "every crashed container came back by its restart policy" within 90 none_down
compose up -d --no-build --scale worker-cpu=2 >/dev/null
check "/readyz after the soak" wait_ready 300
mapfile -t soaked < "$accepted"
settled=yes
wait_terminal 900 "${soaked[@]}" || settled=no
states="$(for id in "${soaked[@]}"; do state "$id"; done | sort | uniq -c | tr -s ' \n' ' ')"
echo "containers: soak: ${#soaked[@]} accepted, $refused refused while a service was down; faults: $(printf '%s\n' "${faults[@]}" | sort | uniq -c | tr -s ' \n' ' ')"
echo "containers: soak: states: $states"
check "every accepted job is in a terminal state" [ "$settled" = yes ]
ids="$(printf "'%s'," "${soaked[@]}")"
check "every accepted job has its row (nothing lost)" \
  [ "$(sql "SELECT count(*) FROM jobs WHERE id IN (${ids%,})")" = "${#soaked[@]}" ]
# The bucket's keys, listed from inside the compose network with SigV4.
s3_keys() {
  local access secret
  access="$(grep ^S3_ACCESS_KEY= "$env_file" | cut -d= -f2)"
  secret="$(grep ^S3_SECRET_KEY= "$env_file" | cut -d= -f2)"
  local after="" page keys
  while true; do
    # (curl 7.88 signs the query as given: its values must be URI-encoded already.)
    page="$(podman run --rm --network "${PROJECT}_default" --entrypoint curl stylize/garage-init \
      -fsS --aws-sigv4 "aws:amz:garage:s3" --user "$access:$secret" \
      -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
      "http://garage:3900/stylize?list-type=2&prefix=jobs%2F${after:+&start-after=${after//\//%2F}}")"
    keys="$(grep -o '<Key>[^<]*</Key>' <<<"$page" | sed 's/<[^>]*>//g' || true)"
    [ -z "$keys" ] || echo "$keys"
    grep -q '<IsTruncated>true</IsTruncated>' <<<"$page" || break
    after="$(tail -n 1 <<<"$keys")"
  done
}
s3_keys > "$CONTAINERS_DIR/keys"
succeeded="$(sql "SELECT id FROM jobs WHERE state = 'succeeded' AND deleted_at IS NULL" | sort)"
with_result="$(grep '/result.png$' "$CONTAINERS_DIR/keys" | cut -d/ -f2 | sort || true)"
missing="$(comm -23 <(echo "$succeeded") <(echo "$with_result") | grep -c . || true)"
extra="$(comm -13 <(echo "$succeeded") <(echo "$with_result") | grep -c . || true)"
known="$(sql "SELECT id FROM jobs" | sort)"
# Objects of an id with no row: a job's output (result, preview) would be a lost job.
# A submission's inputs (content, style-N) can be left when the api dies between
# storing them and writing the row: that submission was never answered 202, so nothing
# accepted is lost, and they are counted apart (no sweep removes them yet).
unknown="$(cut -d/ -f2 "$CONTAINERS_DIR/keys" | sort -u | comm -23 - <(echo "$known"))"
of_unknown="$(grep -F -f <(echo "$unknown" | sed -n 's|.\+|jobs/&/|p'; echo none) "$CONTAINERS_DIR/keys" || true)"
orphans="$(grep . <<<"$of_unknown" | grep -v -c -E '/(content|style-[0-9]+)$' || true)"
stray_inputs="$(grep -c -E '/(content|style-[0-9]+)$' <<<"$of_unknown" || true)"
echo "containers: soak: $(echo "$succeeded" | grep -c .) succeeded jobs, $missing without a result, $extra results of jobs not succeeded, $orphans job outputs without a job, $stray_inputs inputs of submissions never accepted"
check "each succeeded job has exactly one result object" [ "$missing" = 0 ]
check "no result for a job that did not succeed" [ "$extra" = 0 ]
check "no job output stored without its job" [ "$orphans" = 0 ]

# --- down -v ----------------------------------------------------------------------------------
phase "down -v"
compose down -v --remove-orphans >/dev/null
label="label=com.docker.compose.project=$PROJECT"
check "down -v leaves no container" [ -z "$(podman ps -aq --filter "$label")" ]
check "no network" [ -z "$(podman network ls -q --filter "$label")" ]
check "no volume" [ -z "$(podman volume ls -q --filter "$label")" ]

phase "done"
echo "containers: $((SECONDS - started_at)) s in all"
if [ "$failures" -gt 0 ]; then
  echo "containers: $failures checks failed" >&2
  exit 1
fi
echo "containers: every check passed"
