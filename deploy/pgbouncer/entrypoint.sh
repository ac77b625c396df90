#!/bin/sh
# Writes pgbouncer.ini and the user list from the environment, then runs PgBouncer in the foreground.
set -eu
conf=/tmp/pgbouncer
mkdir -p "$conf"
printf '"%s" "%s"\n' "${DB_USER:-postgres}" "${DB_PASSWORD:?set POSTGRES_PASSWORD}" > "$conf/users.txt"
cat > "$conf/pgbouncer.ini" <<INI
[databases]
* = host=${DB_HOST:-postgres} port=${DB_PORT:-5432}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
auth_type = scram-sha-256
auth_file = $conf/users.txt
pool_mode = transaction
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
max_client_conn = ${MAX_CLIENT_CONN:-2000}
server_reset_query =
ignore_startup_parameters = extra_float_digits
unix_socket_dir =
INI
exec pgbouncer "$conf/pgbouncer.ini"
