#!/usr/bin/env bash
# Runs every check and test of the project. Installs what it needs first.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null
rustup target add wasm32-unknown-unknown >/dev/null
for tool in md5sum sha1sum sha256sum; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq coreutils; break; }
done
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  echo "installing ffmpeg (video decoding for the vPDQ tests)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null ||
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; }
fi
if ! command -v chromedriver >/dev/null || ! { command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; }; then
  echo "installing chromium and chromium-driver (the console's browser tests)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null ||
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }
fi
# The console's browser tests fail, rather than skip, when the browser is missing.
export SPOOR_REQUIRE_BROWSER=1
if ! command -v xmllint >/dev/null; then
  echo "installing xmllint (libxml2-utils: the NCMEC report documents against NCMEC's schema)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null ||
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null; }
fi
if ! command -v pdftotext >/dev/null || ! command -v pdftoppm >/dev/null; then
  echo "installing poppler-utils (pdftotext, pdftoppm: the annual report's PDF is read back)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null ||
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null; }
fi
# The report documents' schema tests fail, rather than skip, when xmllint is missing.
export SPOOR_REQUIRE_XMLLINT=1
if [ ! -d ../shared/testdata ]; then
  echo "error: ../shared/testdata is missing: the tests need the shared test data beside this checkout" >&2
  exit 1
fi

step "throwaway PostgreSQL for the store tests"
# shellcheck source=scripts/pg.sh
source scripts/pg.sh
trap spoor_pg_stop EXIT
spoor_pg_start
export SPOOR_REQUIRE_POSTGRES=1

step "format"
cargo fmt --all --check

step "lint"
# In the tests' profile: the build scripts (bundled SQLite, ring) and proc-macros it compiles are
# the ones the test build uses, so they are compiled once.
cargo clippy --workspace --all-targets --profile ci --locked -- -D warnings

step "tests"
cargo test --workspace --profile ci --locked

step "the service against its OpenAPI document (schemathesis)"
scripts/schemathesis.sh

step "hashing core builds for wasm32"
cargo build -p spoor-hash --target wasm32-unknown-unknown --release --locked

step "all checks passed"
