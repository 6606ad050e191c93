#!/bin/sh
# Patroni `bootstrap.post_bootstrap` hook: runs once on the member that initialised the cluster,
# with a libpq connection string as $1. Creates the application database (APP_DATABASE, default
# rift) so the Rift roles can connect at once; they create their tables themselves (migrations).
set -eu
db="${APP_DATABASE:-rift}"
case "$db" in
  *[!a-z0-9_]*|[!a-z_]*|"") echo "post-bootstrap: APP_DATABASE must be a lower-case SQL identifier, got '$db'" >&2; exit 1 ;;
esac
exists=$(psql -X -At -d "$1" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")
if [ "$exists" != "1" ]; then
  psql -X -v ON_ERROR_STOP=1 -d "$1" -c "CREATE DATABASE \"$db\""
fi
