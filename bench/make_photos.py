#!/usr/bin/env python3
"""Writes benign photo-sized JPEGs (1280x960 to 2048x1365) made from the test photos in
../shared/testdata: resized, cropped, mirrored and re-encoded at varied JPEG qualities.

usage: make_photos.py OUT_DIR [COUNT]"""
import os, random, sys
from PIL import Image, ImageOps

here = os.path.dirname(os.path.abspath(__file__))
testdata = os.path.join(here, "..", "..", "shared", "testdata", "pdq")
sources = [
    "bridge-mods/aaa-orig.jpg",
    "misc-images/c.png",
    "reg-test-input/pen-and-coaster.png",
] + [f"reg-test-input/exif-rotn/exif-rotn-{k}.jpg" for k in (1, 3, 6, 8)]
sizes = [(1280, 960), (1600, 1200), (2048, 1365), (1920, 1080), (1365, 2048), (1024 + 512, 1024)]

def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(42)
    images = [Image.open(os.path.join(testdata, s)).convert("RGB") for s in sources]
    for i in range(count):
        im = images[i % len(images)]
        w, h = sizes[rnd.randrange(len(sizes))]
        # random crop of 70-100% of the source, then resize to the target size
        cw, ch = int(im.width * rnd.uniform(0.7, 1.0)), int(im.height * rnd.uniform(0.7, 1.0))
        x, y = rnd.randrange(im.width - cw + 1), rnd.randrange(im.height - ch + 1)
        photo = im.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BILINEAR)
        if rnd.random() < 0.5:
            photo = ImageOps.mirror(photo)
        photo.save(os.path.join(out, f"photo-{i:05d}.jpg"), quality=rnd.choice([75, 85, 90, 95]))

if __name__ == "__main__":
    main()
