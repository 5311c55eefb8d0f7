#!/usr/bin/env python3
"""The peer's matcher: FAISS IndexBinaryMultiHash(256, 16, 16) with nflip=1 (what Meta's HMA uses
for PDQ), one thread, reading the same files as `spoor match` and writing the same jsonl:
{"query":<line>,"matches":[{"line":<line>,"distance":d},...]} sorted by distance then line.

usage: faiss_match.py LIST QUERIES RADIUS"""
import json, sys, time
import numpy as np
import faiss

def read(path):
    with open(path) as f:
        lines = [(i + 1, l.strip()) for i, l in enumerate(f) if l.strip() and not l.startswith("#")]
    nums = np.array([n for n, _ in lines], dtype=np.int64)
    data = np.frombuffer(bytes.fromhex("".join(h for _, h in lines)), dtype=np.uint8).reshape(-1, 32)
    return nums, np.ascontiguousarray(data)

def main():
    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    list_path, query_path, radius = sys.argv[1], sys.argv[2], int(sys.argv[3])
    list_lines, haystack = read(list_path)
    query_lines, queries = read(query_path)
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.nflip = 1
    index.add(haystack)
    t1 = time.perf_counter()
    out = sys.stdout
    batch = 4096
    for start in range(0, len(queries), batch):
        # range_search returns distances strictly below its radius
        lims, D, I = index.range_search(queries[start:start + batch], radius + 1)
        for k in range(min(batch, len(queries) - start)):
            a, b = lims[k], lims[k + 1]
            hits = sorted(zip(D[a:b].tolist(), list_lines[I[a:b]].tolist()))
            out.write('{"query":%d,"matches":[%s]}\n' % (
                query_lines[start + k],
                ",".join('{"line":%d,"distance":%d}' % (l, d) for d, l in hits)))
    t2 = time.perf_counter()
    sys.stderr.write("stats: load+build %.2f s, %d queries %.2f s, %.3f ms/query\n"
                     % (t1 - t0, len(queries), t2 - t1, 1000 * (t2 - t1) / max(1, len(queries))))

if __name__ == "__main__":
    main()
