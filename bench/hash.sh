#!/usr/bin/env bash
# Hashing speed against the reference path, side by side in one run.
# Usage: bench/hash.sh [N_IMAGES] [ROUNDS]   (defaults 300 and 3)
# Installs the reference (PyPI pdqhash, Pillow, numpy) into target/bench-venv for the benchmark
# only, and writes N benign photo-sized JPEGs made from ../shared/testdata into target/.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
rounds=${2:-3}
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pdqhash pillow numpy
fi
cargo build --release --bin spoor
photos=target/bench-photos-$n
[ -d "$photos" ] || "$venv/bin/python" bench/make_photos.py "$photos" "$n"
"$venv/bin/python" bench/hash_vs_reference.py target/release/spoor "$photos" "$rounds"
