#!/usr/bin/env python3
"""Side by side, in one run: `spoor hash` against the reference path (Pillow decode to RGB +
Meta's pdqhash + MD5 in Python), one thread each, whole processes, on the same photo-sized
JPEGs. Prints seconds per image for each, the speed ratio, and how far apart the hashes are.

usage: hash_vs_reference.py SPOOR_BINARY PHOTO_DIR [ROUNDS]"""
import json, os, subprocess, sys, time

def run(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True).stdout
    return time.perf_counter() - t, out

def main():
    spoor, photos = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    here = os.path.dirname(os.path.abspath(__file__))
    n = len([f for f in os.listdir(photos) if f.endswith(".jpg")])
    ref_cmd = [sys.executable, os.path.join(here, "reference_hash.py"), photos]
    ours_cmd = [spoor, "hash", "--threads", "1", "--signals", "pdq,md5", "--format", "jsonl", photos]
    ref_t, ours_t = [], []
    for _ in range(rounds):  # alternate, so that machine noise hits both alike
        t, ref_out = run(ref_cmd)
        ref_t.append(t)
        t, ours_out = run(ours_cmd)
        ours_t.append(t)
    ref = [json.loads(l) for l in ref_out.decode().splitlines()]
    ours = [json.loads(l) for l in ours_out.decode().splitlines()]
    assert len(ref) == len(ours) == n, (len(ref), len(ours), n)
    dist = []
    for a, b in zip(ref, ours):
        assert a["path"] == b["path"] and a["md5"] == b["md5"], (a, b)
        dist.append(bin(int(a["pdq"], 16) ^ int(b["pdq"], 16)).count("1"))
    r, o = min(ref_t), min(ours_t)
    print(f"images: {n} photo-sized JPEGs, one thread, best of {rounds} whole-process runs")
    print(f"reference (Pillow + pdqhash + md5): {r:.2f} s = {1000 * r / n:.1f} ms/image")
    print(f"spoor hash --signals pdq,md5:       {o:.2f} s = {1000 * o / n:.1f} ms/image")
    print(f"speed-up: {r / o:.1f}x")
    print(f"PDQ distance to reference: mean {sum(dist) / n:.3f}, max {max(dist)}, identical {dist.count(0)}/{n}")

if __name__ == "__main__":
    main()
