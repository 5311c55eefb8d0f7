# Throwaway PostgreSQL server for the test suite. Meant to be sourced from bash:
#
#   source scripts/pg.sh
#   trap spoor_pg_stop EXIT
#   spoor_pg_start     # exports SPOOR_TEST_DATABASE_URL
#   ...
#   spoor_pg_stop      # idempotent, safe after a half-way failed start
#
# spoor_pg_start finds the newest server under /usr/lib/postgresql/*/bin
# (installing the Debian package `postgresql` if there is none), initialises a
# cluster in a fresh temp dir, starts it on a free port of 127.0.0.1 and creates
# the database `spoor_test`. PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` OS user. If SPOOR_TEST_DATABASE_URL is already
# set, that server is used and nothing is started.
#
# The server accepts TLS (ssl=on) and plain connections alike. Its certificate,
# for localhost, 127.0.0.1 and ::1, is signed by a CA made in the temp dir with
# the `openssl` command (Debian package `openssl`, installed when missing).
# Besides SPOOR_TEST_DATABASE_URL, spoor_pg_start exports
#   SPOOR_TEST_PG_CA     the CA certificate (PEM), for sslrootcert=
#   SPOOR_TEST_PG_STOP   a script that stops the server (fast shutdown)
#   SPOOR_TEST_PG_START  a script that starts it again on the same port with the
#                        same settings and returns once it accepts connections
# so that tests can restart the server under a running process.
# The role spoor_scram (tests create it) must log in with SCRAM over TLS, so that
# channel binding can be tested; every other role is trusted, with or without TLS.
# Works under `set -euo pipefail`; functions return non-zero, they never exit.

_SPOOR_PG_DIR="" _SPOOR_PG_BIN="" _SPOOR_PG_OWN_URL=""

_spoor_pg_root() { [ "$(id -u)" -eq 0 ]; }

# Run a server binary as the user that owns the cluster.
_spoor_pg_as() {
  if _spoor_pg_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

_spoor_pg_fail() {
  echo "error: spoor_pg_start: $*" >&2
  if [ -n "$_SPOOR_PG_DIR" ] && [ -s "$_SPOOR_PG_DIR/log" ]; then
    echo "---- last lines of the PostgreSQL log ($_SPOOR_PG_DIR/log) ----" >&2
    tail -n 30 "$_SPOOR_PG_DIR/log" >&2 || true
    echo "----" >&2
  fi
  spoor_pg_stop
  return 1
}

_spoor_pg_find_bin() {
  local d
  _SPOOR_PG_BIN=""
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && _SPOOR_PG_BIN=$d
  done
  [ -n "$_SPOOR_PG_BIN" ]
}

# Installs one Debian package (as root, or through sudo).
_spoor_pg_install() {
  local pkg=${1:-postgresql} sudo=()
  if ! _spoor_pg_root; then
    command -v sudo >/dev/null || { echo "error: the Debian package '$pkg' is not installed and sudo is missing; install it as root" >&2; return 1; }
    sudo=(sudo)
  fi
  echo "spoor_pg: installing the Debian package '$pkg'" >&2
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg")
  "${sudo[@]}" "${install[@]}" >&2 \
    || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" "${install[@]}" >&2; }
}

_spoor_pg_free_port() {
  local port=$((20000 + RANDOM % 40000)) i
  for i in $(seq 1 200); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    port=$((port >= 60000 ? 20000 : port + 1))
  done
  return 1
}

# Makes a CA and a server certificate for localhost/127.0.0.1/::1 in $1.
_spoor_pg_make_certs() {
  local dir=$1
  cat >"$dir/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = spoor throwaway test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  cat >"$dir/server.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
EXT
  openssl req -x509 -new -config "$dir/ca.cnf" -extensions ca -newkey ec \
      -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" \
      -days 30 -sha256 2>>"$dir/log" \
    && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=localhost" 2>>"$dir/log" \
    && openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
      -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 30 -sha256 \
      -extfile "$dir/server.ext" -out "$dir/server.crt" 2>>"$dir/log" >/dev/null \
    && chmod 600 "$dir/server.key" "$dir/ca.key" \
    && { ! _spoor_pg_root || chown postgres: "$dir/server.key" "$dir/server.crt"; }
}

# Writes the executable scripts $dir/stop and $dir/start (see the header).
_spoor_pg_write_control() {
  local dir=$1 port=$2 opts=$3 as=""
  _spoor_pg_root && as="runuser -u postgres --"
  {
    echo '#!/usr/bin/env bash'
    echo '# Stops the throwaway PostgreSQL server (fast shutdown: open sessions are cut).'
    echo 'set -euo pipefail'
    echo "cd /"
    printf '%s %q stop -D %q -m fast -w -t 60 >/dev/null\n' "$as" "$_SPOOR_PG_BIN/pg_ctl" "$dir/data"
  } >"$dir/stop"
  {
    echo '#!/usr/bin/env bash'
    echo '# Starts the throwaway PostgreSQL server again, same port and settings; returns'
    echo '# once it accepts connections.'
    echo 'set -euo pipefail'
    echo "cd /"
    printf '%s %q start -D %q -w -t 60 -l %q -o %q >/dev/null\n' "$as" "$_SPOOR_PG_BIN/pg_ctl" "$dir/data" "$dir/log" "$opts"
    echo 'for _ in $(seq 1 300); do'
    printf '  %q -q -h 127.0.0.1 -p %q -U postgres -d spoor_test && exit 0\n' "$_SPOOR_PG_BIN/pg_isready" "$port"
    echo '  sleep 0.1'
    echo 'done'
    printf 'echo "error: the PostgreSQL server did not accept connections on 127.0.0.1:%s within 30 s (log: %s)" >&2\n' "$port" "$dir/log"
    echo 'exit 1'
  } >"$dir/start"
  chmod 755 "$dir/stop" "$dir/start"
}

spoor_pg_start() {
  if [ -n "${SPOOR_TEST_DATABASE_URL:-}" ]; then
    echo "spoor_pg: using the given server SPOOR_TEST_DATABASE_URL=$SPOOR_TEST_DATABASE_URL" >&2
    return 0
  fi
  [ -z "$_SPOOR_PG_DIR" ] || { echo "error: spoor_pg_start: already started; call spoor_pg_stop first" >&2; return 1; }
  _spoor_pg_find_bin || { _spoor_pg_install && _spoor_pg_find_bin; } \
    || { _spoor_pg_fail "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin and installing the package 'postgresql' failed (see apt-get output above)"; return 1; }

  local port dir
  port=$(_spoor_pg_free_port) || { _spoor_pg_fail "found no free TCP port on 127.0.0.1"; return 1; }
  dir=$(mktemp -d /tmp/spoor-pg.XXXXXX) || { _spoor_pg_fail "cannot create a temporary directory in /tmp"; return 1; }
  _SPOOR_PG_DIR=$dir
  if _spoor_pg_root; then
    getent passwd postgres >/dev/null || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres \
      || { _spoor_pg_fail "cannot create the OS user 'postgres' needed to run the server as root"; return 1; }
    touch "$dir/log" && chown -R postgres: "$dir" || { _spoor_pg_fail "cannot chown $dir to the user 'postgres'"; return 1; }
  fi

  command -v openssl >/dev/null || _spoor_pg_install openssl \
    || { _spoor_pg_fail "the openssl command is missing and installing the package 'openssl' failed (see apt-get output above)"; return 1; }
  _spoor_pg_make_certs "$dir" \
    || { _spoor_pg_fail "openssl could not make the test CA and server certificate in $dir (log above)"; return 1; }

  _spoor_pg_as "$_SPOOR_PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --encoding UTF8 --no-locale >>"$dir/log" 2>&1 \
    || { _spoor_pg_fail "initdb failed (its output is above); check that $dir is writable by the server user"; return 1; }
  _spoor_pg_as sed -i '1i hostssl all spoor_scram 127.0.0.1/32 scram-sha-256' "$dir/data/pg_hba.conf" \
    || { _spoor_pg_fail "cannot add the SCRAM test line to $dir/data/pg_hba.conf"; return 1; }
  local opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c shared_buffers=128MB -c max_connections=200"
  opts+=" -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  _spoor_pg_write_control "$dir" "$port" "$opts" \
    || { _spoor_pg_fail "cannot write the stop and start scripts into $dir"; return 1; }
  _spoor_pg_as "$_SPOOR_PG_BIN/pg_ctl" start -D "$dir/data" -w -t 60 -l "$dir/log" -o "$opts" >/dev/null \
    || { _spoor_pg_fail "the server did not start on 127.0.0.1:$port (log above)"; return 1; }
  "$_SPOOR_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres spoor_test \
    || { _spoor_pg_fail "cannot create the database spoor_test on 127.0.0.1:$port"; return 1; }

  export SPOOR_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/spoor_test"
  export SPOOR_TEST_PG_CA="$dir/ca.crt" SPOOR_TEST_PG_STOP="$dir/stop" SPOOR_TEST_PG_START="$dir/start"
  _SPOOR_PG_OWN_URL=$SPOOR_TEST_DATABASE_URL
  echo "spoor_pg: PostgreSQL $("$_SPOOR_PG_BIN/postgres" --version | awk '{print $3}') running at $SPOOR_TEST_DATABASE_URL (data in $dir)" >&2
}

spoor_pg_stop() {
  local dir=$_SPOOR_PG_DIR
  if [ -n "$dir" ]; then
    if [ -f "$dir/data/postmaster.pid" ]; then
      _spoor_pg_as "$_SPOOR_PG_BIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null 2>&1 \
        || _spoor_pg_as "$_SPOOR_PG_BIN/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 \
        || echo "warning: spoor_pg_stop: could not stop the server in $dir/data" >&2
    fi
    rm -rf "$dir" || true
    _SPOOR_PG_DIR=""
  fi
  if [ -n "$_SPOOR_PG_OWN_URL" ] && [ "${SPOOR_TEST_DATABASE_URL:-}" = "$_SPOOR_PG_OWN_URL" ]; then
    unset SPOOR_TEST_DATABASE_URL SPOOR_TEST_PG_CA SPOOR_TEST_PG_STOP SPOOR_TEST_PG_START
  fi
  _SPOOR_PG_OWN_URL=""
  return 0
}
