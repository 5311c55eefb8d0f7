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
