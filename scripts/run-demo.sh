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
IDP_PORT=${IDP_PORT:-8766}
export SITE_URL=${SITE_URL:-http://127.0.0.1:$WEB_PORT}
# The simulator speaks plain http on loopback; these two settings allow exactly that.
export EXCHANGE_ALLOW_HTTP=True EXCHANGE_ALLOW_PRIVATE_HOSTS=True
export DEMO_EWS_URL="http://127.0.0.1:$SIM_PORT/EWS/Exchange.asmx"
# Exchange Online from the same simulator: Graph at /v1.0, and an Entra-like identity provider
# (HTTPS only, as msal insists) with a CA made afresh each run, which the app is told to trust.
# The site's app registration is demo-only; its redirect URI is this app's callback.
export MICROSOFT_CLIENT_ID=${MICROSOFT_CLIENT_ID:-00000000-de70-4000-8000-00000000517e}
export MICROSOFT_CLIENT_SECRET=${MICROSOFT_CLIENT_SECRET:-demo-site-app-secret}
export MICROSOFT_AUTHORITY="https://127.0.0.1:$IDP_PORT/simulator-tenant"
export MICROSOFT_GRAPH_URL="http://127.0.0.1:$SIM_PORT/v1.0"
export EXCHANGE_CA_BUNDLE="$PWD/var/demo-ca/ca.pem"
idp_options=(--idp-port "$IDP_PORT" --ca-dir var/demo-ca --client-id "$MICROSOFT_CLIENT_ID"
  --client-secret "$MICROSOFT_CLIENT_SECRET" --redirect-uri "$SITE_URL/connection/microsoft/callback/")
if [ "$IDP_PORT" = 0 ]; then
  # IDP_PORT=0: the on-premises demo only (seed_demo then leaves Megan out).
  unset MICROSOFT_CLIENT_ID MICROSOFT_CLIENT_SECRET MICROSOFT_AUTHORITY EXCHANGE_CA_BUNDLE
  idp_options=()
fi
mkdir -p var
# Last run's CA (and its keys) is stale: the simulator writes a new one.
rm -rf var/demo-ca

python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

python -m calendars.simulator --seed calendars/simulator/demo_seed.yaml --port "$SIM_PORT" \
  ${idp_options[@]+"${idp_options[@]}"} >var/simulator.log 2>&1 &
pids+=($!)
# The simulator listens once the seed is loaded and the identity provider is up.
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SIM_PORT") 2>/dev/null && break; sleep 0.2; done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$SIM_PORT") 2>/dev/null; then
  echo "The Exchange simulator did not start; see var/simulator.log:" >&2
  tail -n 20 var/simulator.log >&2
  exit 1
fi

python manage.py seed_demo --ews-url "$DEMO_EWS_URL"

celery -A scheduler_site worker --beat --schedule var/celerybeat-schedule --pool threads --concurrency 4 -l INFO >var/worker.log 2>&1 &
pids+=($!)

cat <<INFO

  Scheduler is running.
    Web app:            http://127.0.0.1:$WEB_PORT/
    Django admin:       http://127.0.0.1:$WEB_PORT/admin/
    Booking pages:      http://127.0.0.1:$WEB_PORT/intro-call/
                        http://127.0.0.1:$WEB_PORT/consultation/
                        http://127.0.0.1:$WEB_PORT/teams-call/   (Exchange Online: a Teams meeting each)
    Team pages:         http://127.0.0.1:$WEB_PORT/advice/   (round robin: Alice or Bob)
                        http://127.0.0.1:$WEB_PORT/project-review/   (collective: both)
    Exchange simulator: $DEMO_EWS_URL  (on-premises, log: var/simulator.log)
    Microsoft Graph:    $MICROSOFT_GRAPH_URL  (Exchange Online, same simulator)
    Sign-in (Entra):    ${MICROSOFT_AUTHORITY:-none (IDP_PORT=0): no Megan, no teams-call}  (test CA: var/demo-ca/ca.pem)
    Celery worker log:  var/worker.log

  Demo logins (also in the README):
    admin  / demo-admin-password   (site admin: corporate connection, sync log)
    staff  / demo-staff-password   (staff member attached to the corporate connection)
    bob    / demo-bob-password     (Alice's colleague on the team pages)
    megan  / demo-megan-password   (Exchange Online, connected with Microsoft; page teams-call)
    Megan's Microsoft sign-in:   megan@contoso.example / Megan-Cloud-1!

  Stop with Ctrl-C.

INFO
python manage.py runserver --noreload "127.0.0.1:$WEB_PORT"
