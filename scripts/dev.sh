#!/usr/bin/env bash
# `make dev`: the site as deployed, without Docker. PostgreSQL and Redis on this machine, gunicorn
# serving the site and one Celery worker generating stimuli, with the settings printed so that any
# manage.py command can be run against the same database and broker.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
DEV_DB=${DEV_DB:-visexp_dev}
export DEBUG=${DEBUG:-1}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$DEV_DB}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/1}
export MEDIA_ROOT=${MEDIA_ROOT:-$PWD/var/dev-media}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}

bash scripts/ensure-services.sh
db_name=${DATABASE_URL##*/}
if ! psql "${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1; then
  echo "Creating the database $db_name"
  psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$db_name\""
fi
"$PY" manage.py migrate --noinput -v0

cat <<SETTINGS
Settings (run any manage.py command against the same services with these):
  DEBUG=$DEBUG
  DATABASE_URL=$DATABASE_URL
  CELERY_BROKER_URL=$CELERY_BROKER_URL
  MEDIA_ROOT=$MEDIA_ROOT
  ALLOWED_HOSTS=$ALLOWED_HOSTS
e.g. DEBUG=$DEBUG DATABASE_URL=$DATABASE_URL CELERY_BROKER_URL=$CELERY_BROKER_URL MEDIA_ROOT=$MEDIA_ROOT $PY manage.py createsuperuser
SETTINGS

"$PY" -m celery -A config worker --concurrency=1 -n "dev-$PORT@%h" --loglevel=INFO &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Serving on http://$HOST:$PORT/  (admin: http://$HOST:$PORT/admin/)  with one Celery worker; Ctrl-C stops both"
"$PY" -m gunicorn config.wsgi:application --bind "$HOST:$PORT" --workers 2 --timeout 60 --access-logfile - &
web=$!
trap 'kill -TERM "$web" "$worker" 2>/dev/null; wait "$web" "$worker" 2>/dev/null || true' EXIT INT TERM
wait -n "$web" "$worker"
