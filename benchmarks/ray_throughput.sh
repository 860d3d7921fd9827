#!/usr/bin/env bash
# Batch throughput: this machine alone, then a local Ray cluster of 1 and of 2 nodes (1 CPU each),
# on the same images. Runs in a network namespace of its own (loopback only), as root:
#     unshare -n bash benchmarks/ray_throughput.sh [IMAGE_FOLDER] [FACTOR]
set -euo pipefail
cd "$(dirname "$0")/.."
IN=${1:-../shared/data/train/bsd68}
FACTOR=${2:-2}
WORK=$(mktemp -d)
trap 'ray stop --force >/dev/null 2>&1; rm -rf "$WORK"' EXIT
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0
echo "local, one process:"
python -m srspace upscale "$IN" --out "$WORK/local" --factor "$FACTOR" 2>/dev/null | tail -1
ray start --head --node-ip-address 127.0.0.1 --port 6398 --num-cpus 1 --include-dashboard false >/dev/null 2>&1
echo "Ray, 1 node, 1 worker:"
python -m srspace upscale "$IN" --out "$WORK/ray1" --factor "$FACTOR" --ray 127.0.0.1:6398 2>/dev/null | tail -1
ray start --address 127.0.0.1:6398 --node-ip-address 127.0.0.1 --num-cpus 1 >/dev/null 2>&1
echo "Ray, 2 nodes, 2 workers:"
python -m srspace upscale "$IN" --out "$WORK/ray2" --factor "$FACTOR" --ray 127.0.0.1:6398 2>/dev/null | tail -3
diff -r "$WORK/local" "$WORK/ray2" >/dev/null && echo "results identical to the local ones"
