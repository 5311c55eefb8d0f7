#!/usr/bin/env bash
# Differential test of Spoor's HMA-compatible routes (`/hma/…`, crates/server/src/hma.rs)
# against the real thing: Meta's Hasher-Matcher-Actioner (OpenMediaMatch) 1.1.7, run locally.
#
#   bench/hma_compat.sh [--throughput]
#
# What it does:
#   1. Installs HMA when missing: a virtualenv in target/hma-venv (python3-venv through apt if
#      needed), HMA and python-threatexchange from the ThreatExchange repository mirrored at
#      /work/.mirror/facebook+ThreatExchange/repo (or a shallow clone from GitHub), exported to
#      target/hma-src. If HMA cannot be installed it prints "SKIPPED: why" and exits 0.
#   2. Starts a throwaway PostgreSQL (scripts/pg.sh), makes a database for HMA in it, runs HMA's
#      migrations and serves HMA with gunicorn on 127.0.0.1 (hasher, matcher and curator roles,
#      PRODUCTION, the index cache on, the index-building task every 2 s).
#   3. Builds Spoor (`cargo build --profile ci -p spoor`), makes an admin key in a fresh data dir
#      and serves it on 127.0.0.1.
#   4. Sends the same requests to both (bench/hma_compat.py): HMA at its root, Spoor under /hma
#      with the key as bearer token. Each answer is compared by status code and JSON shape
#      (object keys, value types, arrays element by element), plus the values both must agree
#      on (hashes of the same file, exact-match distances, ratios, the static type lists).
#   5. Prints one line per request: `same`, `deliberate: reason` (the table below) or
#      `DIFFERENT: details`, then a summary. Exit status 1 if anything is DIFFERENT, or if a
#      deliberate difference listed below no longer differs (the table must stay true).
#   With --throughput, afterwards: wrk -t2 -c16 -d10s on a matching GET /m/lookup against each
#   service in turn, three alternating rounds (HMA restarted under gunicorn with
#   HMA_WORKERS=4 sync workers and OMP_NUM_THREADS=1), requests/s of each and the ratio
#   Spoor/HMA.
#
# Environment: HMA_WORKERS (gunicorn workers for the throughput run, default 4), OMP_NUM_THREADS
# (for HMA's faiss, default 1), WRK_DURATION (default 10s), KEEP_LOGS=1 (keep the temp dir with
# the servers' logs), SPOOR_TEST_DATABASE_URL (use that PostgreSQL server instead of a throwaway).
# Everything listens on and connects to 127.0.0.1 only; processes and temp dirs go on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

throughput=0
for arg in "$@"; do
  case $arg in
    --throughput) throughput=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bench/hma_compat.sh [--throughput]" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------------------------------------
# Deliberate differences: `step id | Spoor's status | why`. Each of these steps must differ from
# HMA (and Spoor must answer the status given, with a {"message": …} body when it is an error);
# every other step must answer the same. Step ids are printed in the output. The reasons are
# those of the README ("Coming from HMA") and crates/server/src/hma.rs; a difference found that
# neither documents is a bug to fix in Spoor, not a line to add here.
DELIBERATE=$(cat <<'TABLE'
auth.no-key               | 401 | Spoor keeps keys on: every route but /status and /status/live needs one (HMA has no auth)
banks.create.no-name      | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
banks.create.bad-ratio    | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
banks.create.not-json     | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
banks.update.bad-type     | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
lookup.raw.missing        | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
lookup.raw.bad-bool       | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
hash.url.missing          | 422 | HMA's pydantic validation answers 422 with a list of errors; Spoor answers 422 {"message": …} naming the field
banks.update.rename       | 400 | Spoor does not rename banks (their change log and cases keep the name)
banks.delete              | 409 | Spoor does not delete banks: a bank keeps its change log; pause it or delete its content
lookup.file.bypass-paused | 200 | a ratio of 0 pauses a Spoor bank (with the reason recorded), and a paused bank matches nothing: bypass_coinflip skips the coin, not the pause (HMA's bypass matches a bank at 0)
lookup.coin.bypass-get    | 200 | HMA declares bypass_coinflip on GET /m/lookup but does not pass it on (only POST does); Spoor honours it on both
content.add.content-uri   | 400 | Spoor keeps hashes and provenance only, no link to media (metadata.content_uri refused)
content.add.note          | 400 | Spoor keeps no free text with an entry (a note is taken only as the reason when disabling)
content.add.url           | 400 | url= fetches only from hosts named by --fetch-allow (none here), never from an inside address such as this test's 127.0.0.1; HMA fetches from any host
lookup.url                | 400 | url= fetches only from hosts named by --fetch-allow (none here), never from an inside address such as this test's 127.0.0.1; HMA fetches from any host
hash.url                  | 400 | url= fetches only from hosts named by --fetch-allow (none here), never from an inside address such as this test's 127.0.0.1; HMA fetches from any host
exchanges.apis            | 200 | HMA's exchange types are not Spoor's: Spoor lists none ([]), HMA its installed ones (["sample"])
compare.video_md5         | 200 | Spoor answers a video_md5 comparison (equal or not, distance 0/1) where HMA fails with a 500
lookup.raw.disabled       | 200 | raw_lookup answers what matches: disabled content is not in it (HMA's raw lookup skips that check)
lookup.raw.paused         | 200 | raw_lookup answers what matches: a paused bank's content is not in it (HMA's raw lookup skips that check)
content.add.same-signal   | 200 | a Spoor bank holds a signal once: banking it again answers the existing entry's id (HMA makes a second item)
content.disable.past-ts   | 200 | a disable_until_ts already past enables the entry (HMA matches it too) and is answered as 1
TABLE
)

# ---------------------------------------------------------------------------------------------
# Cleanup

work=$(mktemp -d /tmp/hma-compat.XXXXXX)
pids=()
pg_started=0
hma_db_made=0
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # A server given through SPOOR_TEST_DATABASE_URL outlives this run: drop HMA's database.
  if [ "$hma_db_made" = 1 ]; then pg_db drop || true; fi
  if [ "$pg_started" = 1 ]; then spoor_pg_stop; fi
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { echo "SKIPPED: $*"; exit 0; }
say() { echo "hma_compat: $*" >&2; }

free_port() {
  local port=$((20000 + RANDOM % 40000)) i
  for i in $(seq 1 200); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    port=$((port >= 60000 ? 20000 : port + 1))
  done
  return 1
}

apt_install() {
  local sudo=()
  [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null || return 1; sudo=(sudo); }
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
  "${sudo[@]}" "${install[@]}" >&2 || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" "${install[@]}" >&2; }
}

# ---------------------------------------------------------------------------------------------
# 1. HMA: source, virtualenv, packages

mirror=/work/.mirror/facebook+ThreatExchange/repo
src=$ROOT/target/hma-src
venv=$ROOT/target/hma-venv
mkdir -p "$ROOT/target"

if [ -d "$mirror" ]; then
  commit=$(git -C "$mirror" rev-parse HEAD)
  origin=$mirror
else
  say "no mirror at $mirror: cloning https://github.com/facebook/ThreatExchange (shallow)"
  git clone -q --depth 1 https://github.com/facebook/ThreatExchange "$work/te" >&2 \
    || skip "HMA's source is not mirrored at $mirror and cloning it from GitHub failed"
  commit=$(git -C "$work/te" rev-parse HEAD)
  origin=$work/te
fi
if [ "$(cat "$src/.commit" 2>/dev/null)" != "$commit" ]; then
  say "exporting hasher-matcher-actioner and python-threatexchange at ${commit:0:12} to target/hma-src"
  rm -rf "$src" && mkdir -p "$src"
  # (git may warn about large blobs elsewhere in the repository that the mirror lacks.)
  git -C "$origin" archive HEAD hasher-matcher-actioner python-threatexchange 2>"$work/archive.log" \
    | tar -x -C "$src" || { cat "$work/archive.log" >&2; skip "cannot export HMA's source from $origin"; }
  [ -f "$src/hasher-matcher-actioner/src/OpenMediaMatch/app.py" ] \
    || skip "the exported tree has no hasher-matcher-actioner/src/OpenMediaMatch/app.py"
  echo "$commit" >"$src/.commit"
fi
hma_version=$(cat "$src/hasher-matcher-actioner/version.txt" 2>/dev/null || echo '?')

if [ ! -x "$venv/bin/python" ]; then
  command -v python3 >/dev/null || apt_install python3 || skip "no python3, and installing it failed"
  if ! python3 -m venv "$venv" >"$work/venv.log" 2>&1; then
    rm -rf "$venv"
    say "python3 -m venv failed; installing python3-venv"
    apt_install python3-venv && python3 -m venv "$venv" >"$work/venv.log" 2>&1 \
      || { cat "$work/venv.log" >&2; rm -rf "$venv"; skip "cannot create a Python virtualenv (python3-venv)"; }
  fi
fi
py=$venv/bin/python
stamp=$venv/.hma-installed-$commit
if [ ! -f "$stamp" ]; then
  say "installing python-threatexchange and HMA ${hma_version} into target/hma-venv (pip; a few minutes)"
  pip=("$py" -m pip install -q --disable-pip-version-check)
  "${pip[@]}" "$src/python-threatexchange" >&2 \
    || skip "pip could not install python-threatexchange from $src/python-threatexchange"
  # HMA's pyproject lists its dependencies (psycopg2 built from source, which needs pg_config
  # and a compiler) and packages no module: the code runs from its src/ (as in its Dockerfile).
  if ! "${pip[@]}" "$src/hasher-matcher-actioner[prod]" >&2; then
    say "installing HMA's dependencies with psycopg2-binary instead of psycopg2"
    deps=$("$py" - "$src/hasher-matcher-actioner/pyproject.toml" <<'PY'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = p["dependencies"] + p.get("optional-dependencies", {}).get("prod", [])
print("\n".join("psycopg2-binary" if d.strip() == "psycopg2" else d for d in deps))
PY
    ) || skip "cannot read HMA's dependencies from its pyproject.toml"
    mapfile -t deps <<<"$deps"
    "${pip[@]}" "${deps[@]}" >&2 || skip "pip could not install HMA's dependencies (${deps[*]})"
  fi
  touch "$stamp"
fi
export PYTHONPATH=$src/hasher-matcher-actioner/src
"$py" -c 'import warnings; warnings.simplefilter("ignore"); import OpenMediaMatch.app, gunicorn, requests' 2>"$work/import.log" \
  || { cat "$work/import.log" >&2; skip "HMA is installed in target/hma-venv but does not import"; }
say "HMA ${hma_version} (ThreatExchange ${commit:0:12}) ready in target/hma-venv"

# ---------------------------------------------------------------------------------------------
# 2. PostgreSQL and HMA

# shellcheck source=../scripts/pg.sh
source scripts/pg.sh
[ -n "${SPOOR_TEST_DATABASE_URL:-}" ] && pg_given=1 || pg_given=0
pg_started=1
spoor_pg_start >&2 || skip "no PostgreSQL server for HMA (scripts/pg.sh failed, see above)"
hma_db=hma_compat_$$
# Makes HMA's database; prints the server's version and HMA's SQLAlchemy URL for it.
pg_db() {
  "$py" - "$SPOOR_TEST_DATABASE_URL" "$hma_db" "$1" <<'PY'
import sys, urllib.parse, psycopg2
url, db, what = sys.argv[1:]
conn = psycopg2.connect(url)
conn.autocommit = True
cur = conn.cursor()
if what == "drop":
    cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    sys.exit(0)
cur.execute(f'CREATE DATABASE "{db}"')
cur.execute("SHOW server_version")
print(cur.fetchone()[0].split()[0])
print(urllib.parse.urlsplit(url)._replace(scheme="postgresql+psycopg2", path="/" + db).geturl())
PY
}
pg_out=$(pg_db create) || { echo "error: cannot create the database $hma_db for HMA" >&2; exit 1; }
[ "$pg_given" = 1 ] && hma_db_made=1
pg_version=$(sed -n 1p <<<"$pg_out")
hma_db_url=$(sed -n 2p <<<"$pg_out")

# One config for every HMA process; OMM_* variables override it per process (HMA reads them
# with Flask's from_prefixed_env).
cat >"$work/omm_config.py" <<PY
# HMA configuration written by bench/hma_compat.sh
DATABASE_URI = "${hma_db_url}"
PRODUCTION = True          # no /dev blueprint
ROLE_HASHER = True
ROLE_MATCHER = True
ROLE_CURATOR = True
UI_ENABLED = False
TASK_FETCHER = False
TASK_INDEXER = True        # build the index from the banks ...
TASK_INDEXER_INTERVAL_SECONDS = 2
TASK_INDEX_CACHE = True    # ... and reload it into the matcher's memory
TASK_INDEX_CACHE_INTERVAL_SECONDS = 1
INDEX_CACHE_MAX_STALE_SEC = 65
PY
export OMM_CONFIG=$work/omm_config.py
hma_app_dir=$src/hasher-matcher-actioner/src

say "running HMA's migrations on database $hma_db"
(cd "$hma_app_dir" && MIGRATION_COMMAND=1 "$venv/bin/flask" --app OpenMediaMatch.app db upgrade \
  --directory OpenMediaMatch/migrations) >"$work/migrate.log" 2>&1 \
  || { tail -n 30 "$work/migrate.log" >&2; echo "error: HMA's migrations failed" >&2; exit 1; }

hma_port=$(free_port)
hma_url=http://127.0.0.1:$hma_port
hma_pid=
# start_hma WORKERS INDEXER(true/false): gunicorn serving HMA; waits for /status (index loaded).
# OMP_NUM_THREADS=1: faiss's OpenMP threads in several workers otherwise spin against each other
# (measured here: 4 workers answer about 3x fewer lookups a second without it).
gunicorn_flags=()
# (gunicorn 27 opens a control socket in ~/.gunicorn unless told not to.)
"$venv/bin/gunicorn" --help | grep -q -- --no-control-socket && gunicorn_flags+=(--no-control-socket)
start_hma() {
  local workers=$1 indexer=$2 i
  OMM_TASK_INDEXER=$indexer OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$venv/bin/gunicorn" --chdir "$hma_app_dir" \
    --bind "127.0.0.1:$hma_port" --workers "$workers" --timeout 120 "${gunicorn_flags[@]}" \
    --error-logfile "$work/hma.log" --capture-output "OpenMediaMatch.app:create_app()" &
  hma_pid=$!
  pids+=("$hma_pid")
  for i in $(seq 1 600); do
    kill -0 "$hma_pid" 2>/dev/null || { tail -n 30 "$work/hma.log" >&2; echo "error: HMA exited" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$hma_url/status")" = 200 ] && return 0
    sleep 0.2
  done
  tail -n 30 "$work/hma.log" >&2
  echo "error: HMA did not answer 200 on /status within 120 s" >&2
  exit 1
}
stop_hma() {
  kill "$hma_pid" 2>/dev/null || true
  wait "$hma_pid" 2>/dev/null || true
}
say "starting HMA (gunicorn, 1 worker with the indexer task) on $hma_url"
start_hma 1 true

# ---------------------------------------------------------------------------------------------
# 3. Spoor

say "building Spoor (cargo build --profile ci -p spoor)"
cargo build --profile ci -p spoor -q >&2
spoor=$ROOT/target/ci/spoor
data=$work/spoor-data
key=$("$spoor" keys create --data-dir "$data" --role admin --name compat 2>/dev/null | tail -n 1)
[ -n "$key" ] || { echo "error: spoor keys create gave no key" >&2; exit 1; }
spoor_port=$(free_port)
spoor_url=http://127.0.0.1:$spoor_port
"$spoor" serve --data-dir "$data" --listen "127.0.0.1:$spoor_port" >"$work/spoor.log" 2>&1 &
spoor_pid=$!
pids+=("$spoor_pid")
for i in $(seq 1 300); do
  kill -0 "$spoor_pid" 2>/dev/null || { tail -n 30 "$work/spoor.log" >&2; echo "error: spoor serve exited" >&2; exit 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$spoor_url/hma/status")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$spoor_url/hma/status")" = 200 ] \
  || { tail -n 30 "$work/spoor.log" >&2; echo "error: Spoor did not answer on /hma/status" >&2; exit 1; }
say "Spoor serving on $spoor_url (HMA routes under /hma)"

# ---------------------------------------------------------------------------------------------
# 4-7. The requests, side by side

photos=$ROOT/../shared/testdata/pdq/bridge-mods
[ -f "$photos/aaa-orig.jpg" ] || photos=/work/shared/testdata/pdq/bridge-mods
set +e
"$py" "$ROOT/bench/hma_compat.py" --hma "$hma_url" --spoor "$spoor_url/hma" --key "$key" \
  --photo "$photos/aaa-orig.jpg" --near "$photos/blur-a-little.jpg" --other "$photos/blur-a-lot.jpg" \
  --deliberate <(printf '%s\n' "$DELIBERATE") --lookup-out "$work/lookup"
status=$?
set -e
[ "$status" -le 1 ] || { echo "error: bench/hma_compat.py failed (exit $status)" >&2; exit "$status"; }

# ---------------------------------------------------------------------------------------------
# 8. Throughput, side by side

if [ "$throughput" = 1 ]; then
  command -v wrk >/dev/null || apt_install wrk || { echo "error: wrk is missing and installing it failed" >&2; exit 1; }
  path=$(cat "$work/lookup")
  workers=${HMA_WORKERS:-4}
  # The index is built; the throughput server only reloads it (one indexer per HMA deployment:
  # HMA warns against running it in several workers).
  say "restarting HMA under gunicorn with $workers sync workers for the throughput run"
  stop_hma
  start_hma "$workers" false
  # Every worker loads the index on its own: wait until lookups match on all of them.
  for i in $(seq 1 300); do
    ok=1
    for j in $(seq 1 $((workers * 4))); do
      curl -s "$hma_url$path" | grep -q bank_content_id || { ok=0; break; }
    done
    [ "$ok" = 1 ] && break
    sleep 0.2
  done
  [ "$ok" = 1 ] || { echo "error: HMA's workers do not all match $path" >&2; exit 1; }
  curl -s "$spoor_url/hma$path" -H "Authorization: Bearer $key" | grep -q bank_content_id \
    || { echo "error: Spoor does not match $path" >&2; exit 1; }
  rps() { awk '/^Requests\/sec:/ { print $2 }'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
  dur=${WRK_DURATION:-10s}
  echo
  echo "throughput: wrk -t2 -c16 -d$dur GET <base>$path"
  echo "  HMA $hma_version: gunicorn, $workers sync workers, OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}, index cache on, PostgreSQL $pg_version"
  echo "  Spoor: spoor serve (--profile ci), SQLite data dir, admin key as bearer token"
  hma_all=() spoor_all=()
  for round in 1 2 3; do
    h=$(wrk -t2 -c16 -d"$dur" "$hma_url$path" | tee "$work/wrk-hma-$round.txt" | rps)
    s=$(wrk -t2 -c16 -d"$dur" -H "Authorization: Bearer $key" "$spoor_url/hma$path" \
      | tee "$work/wrk-spoor-$round.txt" | rps)
    for f in "$work/wrk-hma-$round.txt" "$work/wrk-spoor-$round.txt"; do
      if grep -q 'Non-2xx' "$f"; then echo "warning: $(basename "$f" .txt): $(grep 'Non-2xx' "$f")" >&2; fi
    done
    hma_all+=("$h") spoor_all+=("$s")
    printf '  round %d: HMA %10.1f req/s   Spoor %10.1f req/s   Spoor/HMA %6.1fx\n' \
      "$round" "$h" "$s" "$(ratio "$s" "$h")"
  done
  mean() { printf '%s\n' "$@" | awk '{ t += $1 } END { printf "%.1f", t / NR }'; }
  hm=$(mean "${hma_all[@]}") sm=$(mean "${spoor_all[@]}")
  printf '  mean:    HMA %10.1f req/s   Spoor %10.1f req/s   Spoor/HMA %6.1fx\n' "$hm" "$sm" "$(ratio "$sm" "$hm")"
fi
exit "$status"
