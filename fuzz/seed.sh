#!/usr/bin/env bash
# Makes the seed corpus of the decode_hash target: tiny images of every supported format, from
# ../shared/testdata and (when Python's Pillow is installed) generated solid-colour images.
# Usage: fuzz/seed.sh   then   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_hash corpus/decode_small
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/decode_small
mkdir -p "$out"
td=../../shared/testdata/pdq
cp "$td"/lossless/noise-5x5.png "$td"/lossless/noise-4x4.png "$td"/lossless/misc-images__wee-12x15.png \
   "$td"/misc-images/small.jpg "$out"/
python3 - "$out" <<'PY' || echo "Pillow not available: only PNG and JPEG seeds" >&2
import sys
from PIL import Image
out = sys.argv[1]
im = Image.new("RGB", (9, 7), (10, 200, 30))
for ext in ["gif", "webp", "bmp", "tiff"]:
    im.save(f"{out}/s.{ext}")
im.convert("L").save(f"{out}/g.tiff")
im.save(f"{out}/p.jpg", quality=50, progressive=True)
PY
ls "$out"

# import_list: one small file of each import format.
lists=corpus/import_list
mkdir -p "$lists"
z64=$(printf '%064d' 0)
printf 'signal_type,value,category,tags\npdq,%s,baseline,"a,b"\n' "$z64" > "$lists/csv"
printf '{"signal_type":"vpdq","value":"[\\"%s,100,0.0\\"]","enabled":false,"disabled_reason":"x"}\n' "$z64" > "$lists/jsonl"
printf 'signal_type,signal_str,collab,category,tags\nvideo_md5,%032d,X,NEGATIVE_CLASS,a b\n' 0 > "$lists/hma"
printf '# list\n%s\npdq %s\n' "$z64" "$z64" > "$lists/lines"
ls "$lists"

# snapshot_load: small index snapshots (0 and 3 entries) and a matcher snapshot holding them.
snaps=corpus/snapshot_load
mkdir -p "$snaps"
python3 - "$snaps" <<'PY'
import struct, sys, zlib
out = sys.argv[1]

def index(hashes, ids, seq=1):
    n = len(hashes)
    b = b"SPOORIX\0" + struct.pack("<IQQII", 2, seq, n, 4, 16)
    b += b"".join(hashes) + b"".join(struct.pack("<I", i) for i in ids)
    slot_bits = max(1, (n - 1).bit_length())
    top_bits = max(1, n.bit_length() - 3, 16 - (32 - slot_bits))
    low = 16 - top_bits
    for c in range(16):
        keyed = sorted((h[2 * c] << 8 | h[2 * c + 1], s) for s, h in enumerate(hashes))
        top = [0] * ((1 << top_bits) + 1)
        for k, _ in keyed:
            top[(k >> low) + 1] += 1
        for i in range(1, len(top)):
            top[i] += top[i - 1]
        b += struct.pack("<IIQ", low, slot_bits, len(top))
        b += b"".join(struct.pack("<I", t) for t in top)
        b += b"".join(struct.pack("<I", ((k & ((1 << low) - 1)) << slot_bits) | s) for k, s in keyed)
    b += struct.pack("<QQ", 0, 0)  # no removed slots, no delta
    return b + struct.pack("<I", zlib.crc32(b))

hs = [bytes((i * 37 + j * 11) % 256 for j in range(32)) for i in range(3)]
open(f"{out}/index-empty", "wb").write(index([], []))
open(f"{out}/index-3", "wb").write(index(hs, [5, 6, 7]))
m = b"SPOORMS\0" + struct.pack("<Iq", 1, 0) + b"\0"
m += struct.pack("<Q", 3) + b"".join(struct.pack("<qI", i, 1 << 30 | 1) for i in (5, 6, 7))
m += struct.pack("<QQ", 0, 0) + index(hs, [5, 6, 7], 0) + index([], [], 0)
open(f"{out}/matcher-3", "wb").write(m + struct.pack("<I", zlib.crc32(m)))
PY
ls "$snaps"

# ncmec_response: answers shaped like NCMEC's (submit, upload, finish, an error).
answers=corpus/ncmec_response
mkdir -p "$answers"
head='<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
printf '%s<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription><reportId>4564654</reportId></reportResponse>' "$head" > "$answers/submit"
printf '%s<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription><reportId>4564654</reportId><fileId>b0754af766b426f2928a02c651ed4b99</fileId><hash>fafa5efeaf3cbe3b23b2748d13e629a1</hash></reportResponse>' "$head" > "$answers/upload"
printf '%s<reportDoneResponse><responseCode>0</responseCode><reportId>4564654</reportId><files><fileId>b0754af766b426f2928a02c651ed4b99</fileId></files></reportDoneResponse>' "$head" > "$answers/finish"
printf '%s<reportResponse><responseCode>4100</responseCode><responseDescription>Validation failed</responseDescription></reportResponse>' "$head" > "$answers/error"
ls "$answers"
