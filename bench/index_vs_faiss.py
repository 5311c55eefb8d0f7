#!/usr/bin/env python3
"""Side by side, in one run: `spoor match` against FAISS IndexBinaryMultiHash (HMA's PDQ index),
one thread each, whole processes reading the same files. Checks that the outputs are identical
and prints times and the ratio.

usage: index_vs_faiss.py SPOOR_BINARY HAYSTACK QUERIES [RADIUS]"""
import os, subprocess, sys, time

def run(cmd, out_path):
    with open(out_path, "wb") as out:
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=out)
        return time.perf_counter() - t

def main():
    spoor, hay, queries = sys.argv[1:4]
    radius = sys.argv[4] if len(sys.argv) > 4 else "31"
    here = os.path.dirname(os.path.abspath(__file__))
    n_hay = sum(1 for _ in open(hay))
    n_q = sum(1 for _ in open(queries))
    ours_out, faiss_out = queries + ".spoor.jsonl", queries + ".faiss.jsonl"
    t_ours = run([spoor, "match", "--stats", "--threads", "1", "--radius", radius, "--against", hay, queries], ours_out)
    t_faiss = run([sys.executable, os.path.join(here, "faiss_match.py"), hay, queries, radius], faiss_out)
    same = open(ours_out, "rb").read() == open(faiss_out, "rb").read()
    matches = sum(l.count('"line"') for l in open(ours_out))
    print(f"haystack {n_hay}, queries {n_q}, radius {radius}, one thread, whole processes")
    print(f"faiss IndexBinaryMultiHash(256,16,16) nflip=1: {t_faiss:8.2f} s ({1000 * t_faiss / n_q:.3f} ms/query incl. load)")
    print(f"spoor match:                                  {t_ours:8.2f} s ({1000 * t_ours / n_q:.3f} ms/query incl. load)")
    print(f"speed-up: {t_faiss / t_ours:.1f}x; matches found: {matches}; identical results: {same}")
    if not same:
        sys.exit(1)

if __name__ == "__main__":
    main()
