#!/usr/bin/env python3
"""Checks `spoor eval`'s PDQ figures against Meta's reference implementation (PyPI pdqhash).

Reads the copies `spoor eval --write DIR` kept and the records of `--jsonl FILE`, hashes every
original and copy again through Pillow (decode to RGB) and pdqhash, and recomputes the
distances of the three PDQ technologies: the copy's own hash, the best of its eight
DCT-derived rotation/mirror hashes (pdqhash.compute_dihedral), and the best of the hashes of
its eight turned/mirrored pixel grids (numpy turns, pdqhash.compute each). Prints, per change
and technology, recall by spoor and by the reference side by side, and fails when they differ
by more than one copy or 2 percentage points, whichever is larger.

usage: eval_vs_reference.py DIR RECORDS.jsonl [RADIUS]"""
import json, os, sys
import numpy as np
import pdqhash
from PIL import Image


def hexhash(bits):
    return int("".join(str(int(b)) for b in bits), 2)


def dist(a, b):
    return bin(a ^ b).count("1")


def rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def turns(a):
    # The reference's order: original, rot90 (anticlockwise), rot180, rot270, flip x (upside
    # down), flip y (left-right), transpose, anti-transpose.
    return [a, np.rot90(a, 1), np.rot90(a, 2), np.rot90(a, 3), a[::-1], a[:, ::-1],
            np.transpose(a, (1, 0, 2)), np.rot90(a, 2).transpose(1, 0, 2)]


def main():
    out_dir, records = sys.argv[1], sys.argv[2]
    radius = int(sys.argv[3]) if len(sys.argv) > 3 else 31
    spoor = {}
    for line in open(records):
        r = json.loads(line)
        if r["kind"] == "copy":
            spoor[(r["original"], r["change"])] = r
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out_dir, "manifest.tsv"))][1:]
    per_change = {}
    diffs = []
    for sub, name, used in rows:
        if used != "true":
            continue
        d = os.path.join(out_dir, sub)
        files = sorted(os.listdir(d))
        orig = next(f for f in files if f.startswith("original."))
        bits, _ = pdqhash.compute(rgb(os.path.join(d, orig)))
        o = hexhash(bits)
        for f in files:
            if f == orig:
                continue
            change = f.rsplit(".", 1)[0]
            a = rgb(os.path.join(d, f))
            h = hexhash(pdqhash.compute(a)[0])
            dih, _ = pdqhash.compute_dihedral(a)
            ref = {
                "distance": dist(h, o),
                "distance_dihedral": min(dist(hexhash(v), o) for v in dih),
                "distance_dihedral_exact": min(
                    dist(hexhash(pdqhash.compute(np.ascontiguousarray(t))[0]), o) for t in turns(a)),
            }
            mine = spoor.get((name, change))
            if mine is None:
                sys.exit(f"no spoor record for {name} {change}")
            c = per_change.setdefault(change, {k: [0, 0, 0] for k in ref})
            for k, v in ref.items():
                c[k][0] += mine[k] <= radius
                c[k][1] += v <= radius
                c[k][2] += 1
                diffs.append(abs(mine[k] - v))
    failed = False
    print(f"{'change':<16} {'technology':<24} {'spoor':>8} {'reference':>10}   (radius {radius})")
    for change, c in per_change.items():
        for k, (s, r, n) in c.items():
            tech = {"distance": "pdq", "distance_dihedral": "pdq_dihedral",
                    "distance_dihedral_exact": "pdq_dihedral_exact"}[k]
            bad = abs(s - r) > max(1, 0.02 * n)
            failed |= bad
            print(f"{change:<16} {tech:<24} {100*s/n:7.1f}% {100*r/n:9.1f}%{'   DIFFERS' if bad else ''}")
    diffs.sort()
    print(f"{len(diffs)} distances compared: mean difference {sum(diffs)/len(diffs):.2f} bits, "
          f"99th percentile {diffs[int(0.99*(len(diffs)-1))]}, largest {diffs[-1]}")
    if failed:
        sys.exit("spoor eval and the reference disagree (see DIFFERS above)")
    print("spoor eval agrees with the reference")


if __name__ == "__main__":
    main()
