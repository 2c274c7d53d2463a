#!/usr/bin/env bash
# Runs ../shared/anchors/loadgen.mjs against a local three-node sessionraft cluster.
#   bench/run.sh [out.jsonl]      env: CONC (1,16,64,256) DURATION (10) WARMUP (2) WORKLOADS (write,read,mix)
#                                      NODE_ARGS (extra flags for every node, e.g. "--durability async")
# The cluster's data lives in a temp dir; only the pids this script started are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS="${ANCHORS:-$(cd .. && pwd)/shared/anchors}"
OUT="${1:-bench/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
mkdir -p "$(dirname "$OUT")"
[ -f dist/src/cli/main.js ] || make build
DATA="$(mktemp -d /tmp/sessionraft-bench-XXXXXX)"
PIDS="$DATA/pids"; mkdir -p "$PIDS"
cleanup() { node dist/src/cli/main.js cluster down --data-dir "$DATA" >/dev/null 2>&1 || true; rm -rf "$DATA"; }
trap cleanup EXIT
# shellcheck disable=SC2086
node dist/src/cli/main.js cluster up --data-dir "$DATA" --base-port 7101 -- ${NODE_ARGS:-} >/dev/null
for k in 1 2 3; do cp "$DATA/n$k/node.pid" "$PIDS/n$k.pid"; done
node "$ANCHORS/loadgen.mjs" --adapter bench/anchors-adapter.mjs --system sessionraft --mode "3-node${MODE_SUFFIX:-}" \
  --endpoints 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103 --workloads "${WORKLOADS:-write,read,mix}" \
  --concurrency "${CONC:-1,16,64,256}" --duration "${DURATION:-10}" --warmup "${WARMUP:-2}" \
  --pid-dir "$PIDS" --out "$OUT"
echo "results: $OUT"
