#!/usr/bin/env bash
# One sitting: etcd (3 nodes, from ../shared/anchors) and sessionraft (3 nodes) under the same
# closed-loop workload, then a table with sessionraft/etcd ratios.
#   bench/compare.sh            env: CONC (16,64,256) DURATION (10) WARMUP (2) WORKLOADS (write,read,mix)
# Needs: apt-get install etcd-server etcd-client; a writable copy of the anchors with npm install
# (ANCHORS, default /tmp/anchors-harness: cp -r ../shared/anchors /tmp/anchors-harness && npm install there).
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS="${ANCHORS:-/tmp/anchors-harness}"
[ -d "$ANCHORS/node_modules/etcd3" ] || { echo "run: cp -r ../shared/anchors $ANCHORS && (cd $ANCHORS && npm install)"; exit 2; }
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="bench/results/$STAMP.jsonl"
mkdir -p bench/results
export CONC="${CONC:-16,64,256}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-2}" WORKLOADS="${WORKLOADS:-write,read,mix}"
(
  cd "$ANCHORS"
  ./etcd-cluster.sh start 3 >/dev/null
  trap './etcd-cluster.sh stop >/dev/null 2>&1 || true' EXIT
  node loadgen.mjs --system etcd --mode 3-node --endpoints 127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793 \
    --workloads "$WORKLOADS" --concurrency "$CONC" --duration "$DURATION" --warmup "$WARMUP" \
    --pid-dir "${ANCHORS_TMP:-/tmp/anchors}/etcd/pids" --out "$OLDPWD/$OUT"
)
ANCHORS="$ANCHORS" bench/run.sh "$OUT"
node "$ANCHORS/report.mjs" "$OUT" --compare "$OUT" --base-system etcd --base-mode 3-node | tee "bench/results/$STAMP.md"
