#!/usr/bin/env python3
"""Times Meta's reference vPDQ (PyPI `vpdq`, C++ over libav) hashing every frame of videos on one
thread, and prints frames/s plus how its hashes compare with `spoor hash` output (jsonl on stdin).

usage: spoor hash --vpdq-fps all -j 1 VIDEO... | vpdq_reference.py VIDEO..."""
import json, sys, time

import vpdq

videos = sys.argv[1:]
ours = {}
for line in sys.stdin:
    r = json.loads(line)
    ours[r["path"]] = r.get("vpdq", [])
frames = 0
exact = within10 = compared = 0
start = time.perf_counter()
results = {}
for v in videos:
    feats = vpdq.computeHash(v, seconds_per_hash=0, thread_count=1)
    results[v] = feats
    frames += len(feats)
elapsed = time.perf_counter() - start
for v, feats in results.items():
    for f, o in zip(feats, ours.get(v, [])):
        d = bin(int(f.hex, 16) ^ int(o["pdq"], 16)).count("1")
        compared += 1
        exact += d == 0
        within10 += d <= 10
print(f"reference: {frames} frames in {elapsed:.2f} s = {frames / elapsed:.1f} frames/s (one thread)")
if compared:
    print(f"spoor vs reference (this libav): {exact}/{compared} frames bit-exact, {within10}/{compared} within 10 bits")
