#!/usr/bin/env bash
# The exact index against FAISS, side by side in one run, on seeded random data.
# Usage: bench/index.sh [N] [QUERIES]   (defaults 1000000 and 100000)
# Installs faiss-cpu and numpy into target/bench-venv for the benchmark only.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
q=${2:-100000}
venv=target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import faiss, numpy" 2>/dev/null || "$venv/bin/pip" install -q faiss-cpu numpy
# SPOOR=path/to/spoor measures another build (an older one, side by side); default: this tree's.
if [ -z "${SPOOR:-}" ]; then cargo build --release --bin spoor; fi
spoor=${SPOOR:-$PWD/target/release/spoor}
data=target/bench-index
# Spoor's own figures (build, memory, queries/s on 1 and all threads, snapshot), and the data files.
"$spoor" bench index --sizes "$n" --queries "$q" --write-data "$data"
"$venv/bin/python" bench/index_vs_faiss.py "$spoor" "$data/haystack-$n.txt" "$data/queries-$n.txt" 31
