#!/usr/bin/env bash
# `spoor eval` on the benign test photos, checked against Meta's reference PDQ (PyPI pdqhash):
# the same copies hashed by both, recall compared change by change (bench/eval_vs_reference.py).
# Usage: bench/eval.sh [PATH…]   (default: every picture in ../shared/testdata/pdq)
# Installs the reference (PyPI pdqhash, Pillow, numpy) into target/bench-venv for the check only.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pdqhash pillow numpy
fi
cargo build --release --bin spoor
work=target/eval-check
rm -rf "$work"
mkdir -p "$work"
if [ $# -eq 0 ]; then set -- ../shared/testdata/pdq; fi
target/release/spoor eval "$@" --write "$work/copies" --jsonl "$work/eval.jsonl"
"$venv/bin/python" bench/eval_vs_reference.py "$work/copies" "$work/eval.jsonl" 31
