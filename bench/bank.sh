#!/usr/bin/env bash
# Imports N random PDQ hashes (lines format) into a fresh bank on SQLite and on a throwaway
# PostgreSQL, then re-imports them (idempotent: nothing added) and exports them.
# Usage: bench/bank.sh [N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
# SPOOR=path/to/spoor measures another build (an older one, side by side); default: this tree's.
if [ -z "${SPOOR:-}" ]; then cargo build --release --locked -q; fi
spoor=${SPOOR:-$PWD/target/release/spoor}
work=$(mktemp -d)
source scripts/pg.sh
trap 'spoor_pg_stop; rm -rf "$work"' EXIT
python3 - "$n" "$work/list.txt" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
with open(path, "w") as f:
    for _ in range(n):
        f.write("%064x\n" % rng.getrandbits(256))
PY
spoor_pg_start
run() { # label, store flags...
  local label=$1; shift
  "$spoor" bank "$@" create BENCH >/dev/null
  local t0 t1 t2 t3
  t0=$(date +%s.%N)
  "$spoor" bank "$@" import BENCH "$work/list.txt" 2>/dev/null | grep -q "\"added\":$n,"
  t1=$(date +%s.%N)
  "$spoor" bank "$@" import BENCH "$work/list.txt" 2>/dev/null | grep -q '"added":0,'
  t2=$(date +%s.%N)
  exported=$("$spoor" bank "$@" export BENCH 2>/dev/null | wc -l)
  t3=$(date +%s.%N)
  [ "$exported" -eq "$n" ] || { echo "error: exported $exported entries, expected $n" >&2; exit 1; }
  printf '%-10s import %7.2f s   re-import %6.2f s   export %6.2f s   (%d entries)\n' "$label" \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)" "$exported"
}
run sqlite --data-dir "$work/data"
run postgres --database-url "$SPOOR_TEST_DATABASE_URL"
