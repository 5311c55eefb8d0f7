#!/usr/bin/env bash
# Throughput of `spoor scan` on a tree of N photo-sized JPEGs (1280x960 to 2048x1365, made from
# ../shared/testdata by bench/make_photos.py, spread over 100 directories): files/s on 1 and 2
# threads, then with --cache: the first (cold) run and the second (cached) run.
# Usage: bench/scan.sh [N]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pdqhash pillow numpy
fi
cargo build --release --locked -q
spoor=target/release/spoor
tree=target/bench-scan-$n
if [ ! -d "$tree" ]; then
  # Two generator processes, then spread into 100 directories.
  half=$((n / 2))
  "$venv/bin/python" bench/make_photos.py "$tree.tmp/a" "$half" &
  "$venv/bin/python" bench/make_photos.py "$tree.tmp/b" "$((n - half))" &
  wait
  mkdir -p "$tree"
  i=0
  for f in "$tree.tmp"/a/* "$tree.tmp"/b/*; do
    d="$tree/d$((i % 100))"; mkdir -p "$d"; mv "$f" "$d/$i.jpg"; i=$((i + 1))
  done
  rm -rf "$tree.tmp"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The list: 100,000 random PDQ hashes plus the hashes of 1% of the photos.
python3 - "$work/list.txt" <<'PY'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    f.writelines("%064x\n" % rng.getrandbits(256) for _ in range(100000))
PY
find "$tree" -name '*.jpg' | sort | awk 'NR % 100 == 0' > "$work/some.txt"
xargs "$spoor" hash --signals pdq --format jsonl < "$work/some.txt" | python3 -c '
import json, sys
for line in sys.stdin: print(json.loads(line)["pdq"])' >> "$work/list.txt"
run() { # label, args...
  local label=$1; shift
  local out
  out=$("$spoor" scan "$tree" --bank-file "$work/list.txt" "$@" 2>&1 >/dev/null || true)
  echo "$label: ${out#spoor: }"
}
sync
run "1 thread " -j 1
run "2 threads" -j 2
run "2 threads, --cache, cold  " -j 2 --cache "$work/cache.db"
run "2 threads, --cache, cached" -j 2 --cache "$work/cache.db"
