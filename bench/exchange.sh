#!/usr/bin/env bash
# Bank exchange between two `spoor serve` instances on 127.0.0.1: N random PDQ hashes imported
# into a bank of the source, then an exchange set up on the follower; measures the time from
# `spoor exchange add` until the follower has applied the source's whole change log and its
# matcher holds all N (a match on the last hash answers). Both ways: SQLite source into a
# PostgreSQL follower, and PostgreSQL source into a SQLite follower (a throwaway PostgreSQL).
# Then a disable at the source, timed until the follower stops matching it.
# Usage: bench/exchange.sh [N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
if [ -z "${SPOOR:-}" ]; then cargo build --release --locked -q; fi
spoor=${SPOOR:-$PWD/target/release/spoor}
work=$(mktemp -d)
pids=()
source scripts/pg.sh
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  spoor_pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
python3 - "$n" "$work/list.txt" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
with open(path, "w") as f:
    for _ in range(n):
        f.write("%064x\n" % rng.getrandbits(256))
PY
last_hash=$(tail -n 1 "$work/list.txt")
spoor_pg_start >/dev/null
now() { date +%s.%N; }

serve() { # log, store flags... ; sets $base
  local log=$1; shift
  "$spoor" serve "$@" --listen 127.0.0.1:0 --reports-loopback-only >/dev/null 2>"$log" &
  pids+=($!)
  base=
  for _ in $(seq 1 600); do
    base=$(sed -n 's/.*serving on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -1)
    [ -n "$base" ] && return
    sleep 0.1
  done
  echo "error: spoor serve did not start" >&2; cat "$log" >&2; exit 1
}

run() { # label, source flags (two words), follower flags (two words)
  local label=$1 sflag=$2 sval=$3 fflag=$4 fval=$5
  local bank
  bank="LOCAL_$(echo "$label" | tr 'a-z-' 'A-Z_')"
  "$spoor" bank "$sflag" "$sval" create SHARED >/dev/null 2>&1
  "$spoor" bank "$sflag" "$sval" import SHARED "$work/list.txt" >/dev/null 2>&1
  local admin key fadmin matcher
  admin=$("$spoor" keys "$sflag" "$sval" create --role admin --name "admin-$label" 2>/dev/null | tail -1)
  key=$("$spoor" keys "$sflag" "$sval" create --role exchange --name "x-$label" --banks SHARED 2>/dev/null | tail -1)
  echo "$key" >"$work/key-$label"
  "$spoor" bank "$fflag" "$fval" create "$bank" >/dev/null 2>&1
  fadmin=$("$spoor" keys "$fflag" "$fval" create --role admin --name "fadmin-$label" 2>/dev/null | tail -1)
  matcher=$("$spoor" keys "$fflag" "$fval" create --role matcher --name "m-$label" 2>/dev/null | tail -1)
  local src dst
  serve "$work/src-$label.log" "$sflag" "$sval"
  src=$base
  serve "$work/dst-$label.log" "$fflag" "$fval"
  dst=$base
  local last
  last=$(curl -sf -H "Authorization: Bearer $key" "$src/v1/banks/SHARED/changes?limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
  local t0 t1 t2
  t0=$(now)
  "$spoor" exchange "$fflag" "$fval" add "x-$label" --from "$src" --bank SHARED \
    --into "$bank" --key-file "$work/key-$label" --interval 1s >/dev/null 2>&1
  while :; do
    pos=$(curl -sf -H "Authorization: Bearer $fadmin" "$dst/v1/exchanges/x-$label" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["position"])')
    [ "$pos" -ge "$last" ] && break
    sleep 0.2
  done
  t1=$(now)
  until curl -sf -H "Authorization: Bearer $matcher" \
    "$dst/v1/match?signal_type=pdq&value=$last_hash" | grep -q '"entry_id"'; do sleep 0.05; done
  t2=$(now)
  local count
  count=$(curl -sf -H "Authorization: Bearer $fadmin" "$dst/v1/banks/$bank" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
  [ "$count" -eq "$n" ] || { echo "error: $count entries arrived, expected $n" >&2; exit 1; }
  # A disable at the source, until the follower stops matching it (interval 1 s).
  local id t3 t4
  id=$(curl -sf -H "Authorization: Bearer $admin" "$src/v1/match?signal_type=pdq&value=$last_hash" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["matches"][0]["entry_id"])')
  t3=$(now)
  curl -sf -X PATCH -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"enabled": false, "reason": "bench"}' "$src/v1/banks/SHARED/entries/$id" >/dev/null
  while curl -sf -H "Authorization: Bearer $matcher" \
    "$dst/v1/match?signal_type=pdq&value=$last_hash" | grep -q '"entry_id"'; do sleep 0.02; done
  t4=$(now)
  printf '%-22s %d entries: applied in %6.2f s, all matching in %6.2f s; a disable stopped matching in %5.2f s (interval 1 s)\n' \
    "$label" "$count" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" "$(echo "$t4 - $t3" | bc)"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
run sqlite-to-postgres --data-dir "$work/a" --database-url "$SPOOR_TEST_DATABASE_URL"
run postgres-to-sqlite --database-url "$SPOOR_TEST_DATABASE_URL" --data-dir "$work/b"
