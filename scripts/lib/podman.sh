# Sourced by the container scripts: podman as this machine's container engine, with its
# configuration, storage and API socket under var/containers (nothing else on the machine
# moves), docker-compose talking to that socket, and a loop that runs the containers'
# health checks. Installs the tools on first use.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
CONTAINERS_DIR="$STYLIZE_VAR/containers"
export CONTAINERS_CONF="$CONTAINERS_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$CONTAINERS_DIR/storage.conf"
export DOCKER_HOST="unix://$CONTAINERS_DIR/podman.sock"
# Keeps HEALTHCHECK in the images (the OCI format drops it).
export BUILDAH_FORMAT=docker
# The images' base, Debian bookworm as mmdebstrap makes it from the Debian mirror apt
# uses (no image registry answers here), under a name of its own.
export STYLIZE_BASE_IMAGE=localhost/stylize-local/debian:bookworm

podman_log() { printf '\033[1mcontainers:\033[0m %s\n' "$*"; }

podman_install() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v patchelf >/dev/null || missing+=(patchelf)
  command -v jq >/dev/null || missing+=(jq)
  if [ "${#missing[@]}" -gt 0 ]; then
    podman_log "installing Debian's ${missing[*]}"
    apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
      || { echo "containers: FAIL: could not install ${missing[*]} from Debian's packages" >&2; return 1; }
  fi
  mkdir -p "$CONTAINERS_DIR"
  # runc: crun fails here ("cgroups in hybrid mode not supported"). The default rlimits
  # cannot be set in this sandbox. No systemd: cgroupfs and a file for events.
  cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$CONTAINERS_DIR/storage"
runroot = "$CONTAINERS_DIR/run"
CONF
}

# The Docker API on $DOCKER_HOST, for docker-compose, until the shell exits.
podman_serve() {
  local socket="$CONTAINERS_DIR/podman.sock"
  if ! curl -fs --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; then
    rm -f "$socket"
    podman system service --time=0 "unix://$socket" >"$CONTAINERS_DIR/service.log" 2>&1 &
    PODMAN_SERVICE_PID=$!
    for _ in $(seq 100); do
      curl -fs --unix-socket "$socket" http://d/_ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -fs --unix-socket "$socket" http://d/_ping >/dev/null \
      || { echo "containers: FAIL: podman's API did not answer on $socket" >&2; return 1; }
  fi
}

# podman 4.3 runs health checks from systemd timers, and there is no systemd here: this
# loop runs each running container's check every 2 s (compose's depends_on waits on them).
podman_health_loop() {
  while true; do
    for id in $(podman ps -q 2>/dev/null); do
      podman healthcheck run "$id" >/dev/null 2>&1 || true
    done
    sleep 2
  done &
  PODMAN_HEALTH_PID=$!
}

podman_stop_helpers() {
  [ -z "${PODMAN_HEALTH_PID:-}" ] || kill "$PODMAN_HEALTH_PID" 2>/dev/null || true
  [ -z "${PODMAN_SERVICE_PID:-}" ] || kill "$PODMAN_SERVICE_PID" 2>/dev/null || true
}

# The base image, made once (about a minute) and kept.
podman_base_image() {
  podman image exists "$STYLIZE_BASE_IMAGE" && return 0
  podman_log "making the base image $STYLIZE_BASE_IMAGE with mmdebstrap"
  local rootfs="$CONTAINERS_DIR/bookworm.tar"
  local mirror
  mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | sed -n 's/^URIs: *//p; s/^deb \(http[^ ]*\) bookworm .*/\1/p' | grep -v security | head -n 1 || true)"
  # As Debian's slim images: no manuals, documentation (but the copyright files) or
  # translations, and no package lists.
  mmdebstrap --quiet --variant=minbase \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}"
  podman import --quiet "$rootfs" "$STYLIZE_BASE_IMAGE" >/dev/null
  rm -f "$rootfs"
}
