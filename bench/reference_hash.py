#!/usr/bin/env python3
"""The reference hashing path, one thread: Pillow decode to RGB, Meta's pdqhash (PyPI), MD5.
Prints one JSON object a line, like `spoor hash --signals pdq,md5 --format jsonl`.

usage: reference_hash.py FILE_OR_DIR..."""
import hashlib, json, os, sys
import numpy as np
import pdqhash
from PIL import Image

def files(args):
    for a in args:
        if os.path.isdir(a):
            for root, dirs, names in os.walk(a):
                dirs.sort()
                for n in sorted(names):
                    yield os.path.join(root, n)
        else:
            yield a

def main():
    out = sys.stdout
    for path in files(sys.argv[1:]):
        with open(path, "rb") as f:
            data = f.read()
        im = Image.open(path)
        im = im.convert("RGB")
        hash_bits, quality = pdqhash.compute(np.asarray(im))
        value = int("".join(str(int(b)) for b in hash_bits), 2)
        out.write(json.dumps({"path": path, "width": im.width, "height": im.height,
                              "pdq": f"{value:064x}", "quality": int(quality),
                              "md5": hashlib.md5(data).hexdigest()}) + "\n")

if __name__ == "__main__":
    main()
