#!/bin/sh
# Entrypoint of the Patroni image: renders /etc/patroni/patroni.yml.tmpl from environment
# variables into $CONFIG_FILE and execs Patroni (which then runs as PID 1 and reaps its
# children itself).
#
#   SCOPE             Patroni scope = cluster name (global, shard0, shard1)        required
#   MEMBER_NAME       member name, unique within the scope                         required
#   ZOOKEEPER_HOSTS   comma-separated host:port list of the ZooKeeper ensemble     required
#   MEMBER_HOST       address other containers reach this member at   (default: hostname)
#   LISTEN_ADDRESS    address Postgres and the REST API listen on      (default: 0.0.0.0)
#   PG_PORT / REST_PORT  Postgres and Patroni REST ports                (default: 5432 / 8008)
#   DCS_NAMESPACE     Patroni namespace                                (default: /service/)
#   DCS_TTL / DCS_LOOP_WAIT / DCS_RETRY_TIMEOUT                        (default: 10 / 1 / 4)
#   ALLOWED_NETWORK   pg_hba address for trusted clients and replicas  (default: samenet)
#   APP_DATABASE      database created after bootstrap                 (default: rift)
#   POST_BOOTSTRAP    Patroni post_bootstrap hook (default: /usr/local/bin/patroni-post-bootstrap)
#   PGDATA_DIR        data directory              (default: /var/lib/postgresql/data/pgdata)
#   SOCKET_DIR        unix-socket directory       (default: /var/run/postgresql)
#   PGPASS_FILE       pgpass file Patroni writes  (default: /tmp/pgpass)
#   CONFIG_FILE       where the rendered file goes (default: /tmp/patroni.yml; the image sets
#                     PATRONICTL_CONFIG_FILE to the same path, so `patronictl list` just works)
#
# `patroni-entrypoint print-config` prints the rendered configuration and exits.
# Any other arguments are run instead of Patroni (e.g. `patroni-entrypoint patronictl ...`).
#
# The variable names deliberately avoid the PATRONI_ prefix: Patroni itself reads PATRONI_*
# variables and lets them override the file.
set -eu

fail() { echo "patroni-entrypoint: $*" >&2; exit 64; }

: "${SCOPE:?SCOPE is required (Patroni scope, e.g. shard0)}"
: "${MEMBER_NAME:?MEMBER_NAME is required (e.g. pg-shard0-a)}"
: "${ZOOKEEPER_HOSTS:?ZOOKEEPER_HOSTS is required (e.g. zookeeper:2181)}"
export SCOPE MEMBER_NAME ZOOKEEPER_HOSTS
export MEMBER_HOST="${MEMBER_HOST:-$(uname -n)}"
export LISTEN_ADDRESS="${LISTEN_ADDRESS:-0.0.0.0}"
export PG_PORT="${PG_PORT:-5432}"
export REST_PORT="${REST_PORT:-8008}"
export DCS_NAMESPACE="${DCS_NAMESPACE:-/service/}"
export DCS_TTL="${DCS_TTL:-10}"
export DCS_LOOP_WAIT="${DCS_LOOP_WAIT:-1}"
export DCS_RETRY_TIMEOUT="${DCS_RETRY_TIMEOUT:-4}"
export ALLOWED_NETWORK="${ALLOWED_NETWORK:-samenet}"
export APP_DATABASE="${APP_DATABASE:-rift}"
export POST_BOOTSTRAP="${POST_BOOTSTRAP:-/usr/local/bin/patroni-post-bootstrap}"
export PGDATA_DIR="${PGDATA_DIR:-/var/lib/postgresql/data/pgdata}"
export SOCKET_DIR="${SOCKET_DIR:-/var/run/postgresql}"
export PGPASS_FILE="${PGPASS_FILE:-/tmp/pgpass}"
CONFIG_FILE="${CONFIG_FILE:-/tmp/patroni.yml}"
TEMPLATE="${CONFIG_TEMPLATE:-/etc/patroni/patroni.yml.tmpl}"

for v in SCOPE MEMBER_NAME; do
  eval "val=\$$v"
  case "$val" in
    *[!A-Za-z0-9_.-]*) fail "$v must contain only letters, digits, '_', '.', '-', got '$val'" ;;
  esac
done
case "$DCS_NAMESPACE" in /*/) ;; *) fail "DCS_NAMESPACE must start and end with '/', got '$DCS_NAMESPACE'" ;; esac
for v in DCS_TTL DCS_LOOP_WAIT DCS_RETRY_TIMEOUT PG_PORT REST_PORT; do
  eval "val=\$$v"
  case "$val" in ''|*[!0-9]*) fail "$v must be a positive integer, got '$val'" ;; esac
done

# ZOOKEEPER_HOSTS "a:2181,b:2181" -> YAML flow list "['a:2181', 'b:2181']" (quoted: PyYAML does
# not accept a bare "host:port" inside a flow sequence).
ZOOKEEPER_HOSTS_YAML="["
sep=""
old_ifs=$IFS; IFS=,
for hp in $ZOOKEEPER_HOSTS; do
  case "$hp" in
    *[!A-Za-z0-9_.:-]*|*:|:*|"") fail "ZOOKEEPER_HOSTS entry '$hp' is not host:port" ;;
    *:*[!0-9]*) fail "ZOOKEEPER_HOSTS entry '$hp' is not host:port" ;;
    *:*) ;;
    *) fail "ZOOKEEPER_HOSTS entry '$hp' is not host:port" ;;
  esac
  ZOOKEEPER_HOSTS_YAML="$ZOOKEEPER_HOSTS_YAML$sep'$hp'"
  sep=", "
done
IFS=$old_ifs
export ZOOKEEPER_HOSTS_YAML="$ZOOKEEPER_HOSTS_YAML]"

render() {
  # /usr/bin/python3 is Patroni's own interpreter (Debian package); string.Template fails on
  # any placeholder without a value.
  /usr/bin/python3 -c 'import os, string, sys
sys.stdout.write(string.Template(open(sys.argv[1]).read()).substitute(os.environ))' "$TEMPLATE"
}

if [ "${1:-}" = "print-config" ]; then
  render
  exit 0
fi

umask 077
render > "$CONFIG_FILE"
export CONFIG_FILE

if [ $# -gt 0 ]; then
  exec "$@"
fi
exec /usr/bin/patroni "$CONFIG_FILE"
