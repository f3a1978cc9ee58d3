#!/usr/bin/env bash
# `make run`: sets up and starts the whole app on embedded defaults (SQLite, no Redis, a
# Celery worker on the filesystem broker) with the built-in Exchange simulator and demo data.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
export DEBUG=${DEBUG:-True}
WEB_PORT=${WEB_PORT:-8000}
SIM_PORT=${SIM_PORT:-8765}
export SITE_URL=${SITE_URL:-http://127.0.0.1:$WEB_PORT}
# The simulator speaks plain http on loopback; these two settings allow exactly that.
export EXCHANGE_ALLOW_HTTP=True EXCHANGE_ALLOW_PRIVATE_HOSTS=True
export DEMO_EWS_URL="http://127.0.0.1:$SIM_PORT/EWS/Exchange.asmx"
mkdir -p var

python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

python -m calendars.simulator --seed calendars/simulator/demo_seed.yaml --port "$SIM_PORT" \
  >var/simulator.log 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SIM_PORT") 2>/dev/null && break; sleep 0.2; done

python manage.py seed_demo --ews-url "$DEMO_EWS_URL"

celery -A scheduler_site worker --beat --schedule var/celerybeat-schedule --pool threads --concurrency 4 -l INFO >var/worker.log 2>&1 &
pids+=($!)

cat <<INFO

  Scheduler is running.
    Web app:            http://127.0.0.1:$WEB_PORT/
    Django admin:       http://127.0.0.1:$WEB_PORT/admin/
    Booking pages:      http://127.0.0.1:$WEB_PORT/intro-call/
                        http://127.0.0.1:$WEB_PORT/consultation/
    Exchange simulator: $DEMO_EWS_URL  (log: var/simulator.log)
    Celery worker log:  var/worker.log

  Demo logins (also in the README):
    admin  / demo-admin-password   (site admin: corporate connection, sync log)
    staff  / demo-staff-password   (staff member attached to the corporate connection)

  Stop with Ctrl-C.

INFO
python manage.py runserver --noreload "127.0.0.1:$WEB_PORT"
