#!/usr/bin/env bash
# vPDQ speed: frames hashed a second on one core (both pinned to CPU 0) at every frame, spoor against Meta's
# reference (PyPI `vpdq`, built against Debian's libav), on the sample videos, in one run.
# Usage: bench/vpdq.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
need=()
for p in ffmpeg libavcodec-dev libavformat-dev libswscale-dev libavdevice-dev libavfilter-dev pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import vpdq' 2>/dev/null || "$venv/bin/pip" install -q vpdq
cargo build --release --locked -q
videos=(../shared/testdata/video/*.mp4)
start=$(date +%s.%N)
taskset -c 0 target/release/spoor hash --vpdq-fps all -j 1 --signals pdq --format jsonl "${videos[@]}" > target/vpdq-ours.jsonl
end=$(date +%s.%N)
frames=$(python3 -c 'import json,sys; print(sum(len(json.loads(l).get("vpdq",[])) for l in open(sys.argv[1])))' target/vpdq-ours.jsonl)
echo "spoor:     $frames frames in $(echo "$end - $start" | bc) s = $(echo "scale=1; $frames / ($end - $start)" | bc) frames/s (all on one core: spoor and its ffmpeg pinned to CPU 0)"
taskset -c 0 "$venv/bin/python" bench/vpdq_reference.py "${videos[@]}" < target/vpdq-ours.jsonl
