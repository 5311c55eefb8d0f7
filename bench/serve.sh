#!/usr/bin/env bash
# Load test of `spoor serve` on the embedded SQLite store, with wrk on loopback (1 thread,
# 32 connections, as the issue's figures):
#   - raw lookups: GET /v1/match with PDQ queries, half near copies of banked hashes (0-40 bits
#     flipped), half random;
#   - uploads: POST /v1/match/upload of a 512x512 JPEG (hash + match per request).
# Also the server's start time and resident memory.
# Usage: bench/serve.sh [N...]   (banked hashes; default 100000)
# STORE=dir keeps each store in dir and reuses it on the next run with the same dir and N (the
# import is done once; a build that writes a matcher snapshot at shutdown then starts from it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# SPOOR=path/to/spoor measures another build (an older one, side by side); default: this tree's.
if [ -z "${SPOOR:-}" ]; then cargo build --release --locked -q; fi
spoor=${SPOOR:-$PWD/target/release/spoor}
serve_flags=()
"$spoor" serve --help | grep -q -- --max-concurrent-uploads && serve_flags+=(--max-concurrent-uploads 32)
lua=$PWD/bench
image=$PWD/../shared/testdata/pdq/bridge-mods/square-512x512.jpg
duration=${DURATION:-10s}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000)
for n in "${sizes[@]}"; do
  python3 - "$n" "$work/list.txt" "$work/queries.txt" <<'PY'
import random, sys
n, lst, qs = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(1)
hashes = [rng.getrandbits(256) for _ in range(n)]
with open(lst, "w") as f:
    f.writelines("%064x\n" % h for h in hashes)
with open(qs, "w") as f:
    for i in range(10000):
        if i % 2 == 0:
            h = hashes[rng.randrange(n)]
            for b in rng.sample(range(256), rng.randint(0, 40)):
                h ^= 1 << b
        else:
            h = rng.getrandbits(256)
        f.write("%064x\n" % h)
PY
  data=${STORE:-$work}/data-$n
  if [ -z "${STORE:-}" ] || [ ! -e "$data.imported" ]; then
    rm -rf "$data" "$data.imported"
    "$spoor" bank --data-dir "$data" create BENCH >/dev/null
    "$spoor" bank --data-dir "$data" import BENCH "$work/list.txt" >/dev/null 2>&1
    touch "$data.imported"
  fi
  key=$("$spoor" keys --data-dir "$data" create --role matcher --name "bench-$(date +%s%N)" 2>/dev/null | tail -1)
  start=$(date +%s.%N)
  # 32 upload permits: wrk keeps 32 uploads in flight.
  "$spoor" serve --data-dir "$data" --listen 127.0.0.1:5179 "${serve_flags[@]}" 2>"$work/serve.log" &
  pid=$!
  until grep -q "serving on" "$work/serve.log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.05
  done
  ready=$(echo "$(date +%s.%N) - $start" | bc)
  rss_loaded=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  match=$(QUERIES=$work/queries.txt KEY=$key wrk -t1 -c32 -d"$duration" --latency -s "$lua/wrk-match.lua" http://127.0.0.1:5179 2>&1)
  upload=$(IMAGE=$image KEY=$key wrk -t1 -c32 -d"$duration" --latency -s "$lua/wrk-upload.lua" http://127.0.0.1:5179/v1/match/upload 2>&1)
  rss_peak=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  kill -TERM "$pid"; wait "$pid" || true; pid=
  for name in match upload; do
    out=${!name}
    if echo "$out" | grep -q "Non-2xx"; then echo "error: non-2xx answers in the $name run:" >&2; echo "$out" >&2; exit 1; fi
    printf '%-9s N=%-10s %10s req/s   p50 %-9s p99 %-9s\n' "$name" "$n" \
      "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
      "$(echo "$out" | awk '$1=="50%" {print $2}')" "$(echo "$out" | awk '$1=="99%" {print $2}')"
  done
  printf 'server    N=%-10s ready in %.2f s, RSS %d MB loaded, %d MB peak\n' "$n" "$ready" $((rss_loaded / 1024)) $((rss_peak / 1024))
  [ -n "${STORE:-}" ] || rm -rf "$data" "$data.imported"
done
