#!/usr/bin/env bash
# ImageNet's shape at a small image size: 1000 classes × 1281 images (1,281,000 files) →
# list → pack → verify → one shuffled epoch of the iterator (bench io), each timed with its
# peak RSS and, for the iterator, its open file descriptors sampled through the epoch.
# Needs about 6 GB of disk (the files are small; the file system's blocks are not).
# Usage: scripts/imagenet_scale.sh [WORKDIR] [IMAGES_PER_CLASS] [SIZE]
set -euo pipefail
gannet="$(cd "$(dirname "$0")/.." && pwd)/.build/release/gannet"
work="${1:-/tmp/gannet-imagenet-scale}"
per_class="${2:-1281}"
size="${3:-16}"
mkdir -p "$work"
cd "$work"
measure() {  # NAME COMMAND...: wall seconds and peak RSS of one command
  local name="$1"; shift
  /usr/bin/time -f "$name %e s, peak RSS %M KB" "$@" >/dev/null 2>"$name.err" || { tail -3 "$name.err"; exit 1; }
  tail -1 "$name.err"
}
[ -d images ] || measure synth "$gannet" synth images --classes 1000 --images-per-class "$per_class" --size "$size"
measure list "$gannet" list set images --recursive
measure pack "$gannet" pack set images
ls -la set.rec set.idx
measure verify "$gannet" verify set.rec
# The iterator: one shuffled epoch, file descriptors sampled every second.
"$gannet" bench io --data set.rec --batch-size 256 --data-shape 3,"$size","$size" --rand-crop --rand-mirror \
  --epochs 1 --json >io.json 2>io.err &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l); rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  echo "$(date +%s) fds=$fds rss_kb=${rss:-0}" >>io.samples
  sleep 1
done
wait "$pid"
cat io.json
echo "iterator fds: $(awk '{print $2}' io.samples | sort | uniq -c | tr '\n' ' ')"
echo "iterator RSS samples (KB): $(awk -F= '{print $3}' io.samples | sort -n | sed -n '1p;$p' | tr '\n' ' ')"
