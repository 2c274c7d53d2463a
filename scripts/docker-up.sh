#!/usr/bin/env bash
# docker-up.sh: idempotent Docker bring-up for a Debian machine (root) that can reach Debian's
# package mirrors but no image registry. Used by test/containers (globalSetup) and by hand.
#  1. installs docker.io (Debian package) if dockerd is missing
#  2. starts dockerd (vfs, no bridge, no iptables, no ip_forward change) unless a daemon already
#     answers; its pid goes to $DOCKER_STATE_DIR/dockerd.pid for scripts/docker-down.sh
#  3. builds the local base image $NODE_BASE_IMAGE (default sessionraft/node-base:local) from the
#     host's own Node runtime (node + npm + its shared libs + ld.so + /bin/sh), unless it already
#     exists for the same node and npm versions. It stands in for the official node:20 image
#     (deploy/Dockerfile's NODE_IMAGE build arg) where no image can be pulled.
# Env knobs: DOCKER_STATE_DIR (default /tmp/sessionraft-docker), NODE_BASE_IMAGE, NODE_BIN,
#            FORCE_REBUILD=1, DOCKERD_EXTRA_ARGS, DOCKER_UP_TIMEOUT (seconds, default 30)
set -euo pipefail

STATE_DIR=${DOCKER_STATE_DIR:-/tmp/sessionraft-docker}
IMAGE=${NODE_BASE_IMAGE:-sessionraft/node-base:local}
NODE_BIN=$(readlink -f "${NODE_BIN:-$(command -v node)}")
TIMEOUT=${DOCKER_UP_TIMEOUT:-30}
mkdir -p "$STATE_DIR"
log() { printf '[docker-up %s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- 1. install
if ! command -v dockerd >/dev/null 2>&1; then
  t=$(now); log "installing docker.io (apt)"
  export DEBIAN_FRONTEND=noninteractive
  # Never let the package's init script start a default dockerd (that one would create
  # docker0 + iptables rules). Debian images usually ship a policy-rc.d that denies starts.
  tmp_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    tmp_policy=/usr/sbin/policy-rc.d
  fi
  if ! apt-get install -y -q --no-install-recommends docker.io >"$STATE_DIR/apt.log" 2>&1; then
    log "install failed, running apt-get update and retrying"
    apt-get update -q >>"$STATE_DIR/apt.log" 2>&1
    apt-get install -y -q --no-install-recommends docker.io >>"$STATE_DIR/apt.log" 2>&1
  fi
  if [ -n "$tmp_policy" ]; then rm -f "$tmp_policy"; fi
  log "docker.io installed in $(elapsed "$t")s ($(dockerd --version))"
fi

# ---------------------------------------------------------------- 2. start dockerd
if docker info >/dev/null 2>&1; then
  log "a docker daemon already answers on ${DOCKER_HOST:-unix:///var/run/docker.sock}; not starting another"
else
  t=$(now); log "starting dockerd"
  # remember the FORWARD policy so docker-down.sh can put it back if anything changes it
  if command -v iptables >/dev/null 2>&1; then
    iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}' >"$STATE_DIR/forward-policy.before" || true
  fi
  # shellcheck disable=SC2086
  setsid dockerd \
      --storage-driver=vfs \
      --bridge=none \
      --iptables=false \
      --ip-forward=false \
      --ip-masq=false \
      ${DOCKERD_EXTRA_ARGS:-} \
      >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"
  pid=$(cat "$STATE_DIR/dockerd.pid")
  for _ in $(seq 1 $((TIMEOUT * 4))); do
    if docker info >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "dockerd (pid $pid) died; tail of $STATE_DIR/dockerd.log:"; tail -20 "$STATE_DIR/dockerd.log" >&2
      rm -f "$STATE_DIR/dockerd.pid"; exit 1
    fi
    sleep 0.25
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not answer within ${TIMEOUT}s"; exit 1; }
  log "dockerd pid $pid ready in $(elapsed "$t")s (log: $STATE_DIR/dockerd.log)"
fi

# ---------------------------------------------------------------- 3. base image
NPM_DIR=${NPM_DIR:-$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")}
# the label names the versions and this recipe's revision: a change in either rebuilds the image
node_version="$("$NODE_BIN" --version) npm $(node "$NPM_DIR/bin/npm-cli.js" --version) recipe 4"
have=$(docker image inspect -f '{{ index .Config.Labels "sessionraft.node-version" }}' "$IMAGE" 2>/dev/null || true)
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$have" = "$node_version" ]; then
  log "image $IMAGE already present (node $have); skipping build"
  exit 0
fi
t=$(now); log "building $IMAGE from host node $node_version ($NODE_BIN)"
old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
ROOTFS=$(mktemp -d /tmp/node-base-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
chmod 755 "$ROOTFS"   # mktemp made it 0700: the image's / must be traversable by non-root users

# Copy host path $1 into $ROOTFS, keeping symlinks as symlinks and following their chains.
add() {
  local p=$1 c tgt
  c="$(readlink -f "$(dirname "$p")")/$(basename "$p")"   # canonical dir, keep last component
  [ -e "$ROOTFS$c" ] || [ -L "$ROOTFS$c" ] || cp -d --parents "$c" "$ROOTFS"
  if [ -L "$c" ]; then
    tgt=$(readlink "$c"); case $tgt in /*) ;; *) tgt="$(dirname "$c")/$tgt" ;; esac
    add "$tgt"
  fi
}
# merged-/usr top-level links (bookworm: /bin -> usr/bin, /lib -> usr/lib, /lib64 -> usr/lib64 ...)
for d in /bin /sbin /lib /lib64 /lib32 /libx32; do if [ -L "$d" ]; then cp -d "$d" "$ROOTFS/"; fi; done
add_with_libs() {
  add "$1"
  ldd "$1" | awk '/=>/ && $3 ~ /^\// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}' |
    while read -r lib; do add "$lib"; done
}
add_with_libs "$NODE_BIN"
[ "$NODE_BIN" = /usr/bin/node ] || { mkdir -p "$ROOTFS/usr/bin"; ln -sf "$NODE_BIN" "$ROOTFS/usr/bin/node"; }
add /lib64/ld-linux-x86-64.so.2
# npm (the build stage runs npm ci), as /usr/lib/node_modules/npm like the official image
mkdir -p "$ROOTFS/usr/lib/node_modules" "$ROOTFS/usr/bin"
cp -a "$NPM_DIR" "$ROOTFS/usr/lib/node_modules/npm"
printf '#!/bin/sh\nexec node /usr/lib/node_modules/npm/bin/npm-cli.js "$@"\n' >"$ROOTFS/usr/bin/npm"
printf '#!/bin/sh\nexec node /usr/lib/node_modules/npm/bin/npx-cli.js "$@"\n' >"$ROOTFS/usr/bin/npx"
chmod 755 "$ROOTFS/usr/bin/npm" "$ROOTFS/usr/bin/npx"
# /usr/bin/env: the shebang of npm's bins (tsc, ...)
add_with_libs /usr/bin/env
# a tiny /bin/sh (dash) so `docker exec ... sh -c` and Wait.forSuccessfulCommand work
if [ -e /bin/sh ]; then add /bin/sh; add_with_libs "$(readlink -f /bin/sh)"; fi
# minimal /etc + CA bundle + world-writable /tmp
mkdir -p "$ROOTFS/etc/ssl/certs" "$ROOTFS/tmp" "$ROOTFS/root" "$ROOTFS/app"
chmod 1777 "$ROOTFS/tmp"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/"; fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
printf 'hosts: files dns\n' >"$ROOTFS/etc/nsswitch.conf"

tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 -cf - . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'WORKDIR /app' \
  --change "LABEL sessionraft.node-version=\"$node_version\"" \
  --change 'CMD ["node"]' \
  - "$IMAGE" >/dev/null
if ! docker run --rm --network host "$IMAGE" sh -c 'node --version && npm --version && env node -e 0 && echo node-base ok' >&2; then
  log "the new $IMAGE cannot run node, npm and env: removing it"; docker rmi "$IMAGE" >/dev/null 2>&1 || true; exit 1
fi
if [ -n "$old_id" ]; then docker rmi "$old_id" >/dev/null 2>&1 || true; fi  # drop the superseded image if unused
log "built $IMAGE in $(elapsed "$t")s ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
