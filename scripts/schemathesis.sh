#!/usr/bin/env bash
# Checks `spoor serve` against its own OpenAPI document with a generic fuzzer (PyPI
# `schemathesis`, every check): every answer must be one the document describes, schema-valid
# requests must be accepted and invalid ones refused, and nothing may answer 5xx.
#
# Uses target/ci/spoor (built with the ci profile first), a temporary data dir with a bank
# of a few entries and an admin key, and `spoor serve` on a free 127.0.0.1 port. Installs
# schemathesis into a venv under target/ when missing.
# Usage: scripts/schemathesis.sh   (MAX_TIME=seconds bounds the fuzzing, default 120;
#        MAX_EXAMPLES per operation, default 50). Exits non-zero on any failure or server error.
set -euo pipefail
cd "$(dirname "$0")/.."

spoor=$PWD/target/ci/spoor
# The binary the tests built: the same command, so the same features (a plain `cargo build -p
# spoor` resolves features without the workspace's dev-dependencies and rebuilds much of the
# tree). Quick when up to date; never a stale binary.
cargo test --workspace --profile ci --locked --no-run -q
venv=$PWD/target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "schemathesis.sh: installing schemathesis into $venv" >&2
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "schemathesis.sh: installing python3-venv" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null ||
      { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }
  fi
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "error: cannot make a Python venv in $venv: install the Debian package python3-venv" >&2; exit 1; }
  "$venv/bin/pip" install -q schemathesis || { echo "error: cannot install schemathesis from PyPI (see pip's output above)" >&2; exit 1; }
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

data=$work/data
"$spoor" bank --data-dir "$data" create FUZZ --description "schemathesis" >/dev/null
printf '%s\n' \
  f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22 \
  0000000000000000000000000000000000000000000000000000000000000000 \
  "md5 d41d8cd98f00b204e9800998ecf8427e" >"$work/list.txt"
"$spoor" bank --data-dir "$data" import FUZZ "$work/list.txt" --signal-type pdq >/dev/null 2>&1
key=$("$spoor" keys --data-dir "$data" create --role admin --name fuzz 2>/dev/null | tail -1)
# Cases that need review hold their content encrypted: the service needs its media key.
"$spoor" keys --data-dir "$data" media-keygen --out "$work/media.key" 2>/dev/null

# The rate limit and probe detection would (rightly) stop a fuzzer; they are tested elsewhere.
"$spoor" serve --data-dir "$data" --listen 127.0.0.1:0 --probe-threshold 0 --reports-loopback-only \
  --media-key-file "$work/media.key" 2>"$work/serve.log" &
pid=$!
base=
for _ in $(seq 1 200); do
  base=$(sed -n 's/.*serving on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/serve.log" | head -1)
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$base" ] || { echo "error: spoor serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

# One worker: with two, Python 3.11 can fail inside the fuzzer's own code (a SystemError from
# `ast.parse` in threads), which is no finding about the service.
# Run from the temporary dir: whatever schemathesis and Hypothesis cache stays out of the checkout.
status=0
(cd "$work" && "$venv/bin/schemathesis" run "$base/openapi.json" \
  --checks all \
  --exclude-operation-id submit \
  --header "Authorization: Bearer $key" \
  --max-time "${MAX_TIME:-120}" \
  --max-examples "${MAX_EXAMPLES:-50}" \
  --workers 1 \
  --seed 1) || status=$?
# `POST /v1/cases` on its own, without the check that schema-violating data is refused: for the
# JSON `meta` part of a multipart body the fuzzer judges patterns on another form of the text
# and reports values that match them as violations (seen with a `content_ref` that matches
# its pattern in Python's own `re`). Every other check runs; the service's refusals of bad
# meta are tested in crates/cli/tests/cases.rs.
(cd "$work" && "$venv/bin/schemathesis" run "$base/openapi.json" \
  --checks all \
  --exclude-checks negative_data_rejection \
  --include-operation-id submit \
  --header "Authorization: Bearer $key" \
  --max-time "${MAX_TIME_CASES:-40}" \
  --max-examples "${MAX_EXAMPLES:-50}" \
  --workers 1 \
  --seed 1) || status=$?
if grep -q "ERROR" "$work/serve.log"; then
  echo "schemathesis.sh: the server logged errors:" >&2
  grep "ERROR" "$work/serve.log" | head -20 >&2
  status=1
fi
exit $status
