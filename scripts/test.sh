#!/usr/bin/env bash
# The whole test suite: lint and format checks, every test on PostgreSQL + Redis (started or
# installed here when they don't answer), then the fast tests again on SQLite and the
# local-memory cache, the embedded defaults a newcomer runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .

echo "== services"
scripts/services.sh

workers=${TEST_WORKERS:-4}

echo "== pytest on PostgreSQL and Redis, with production settings"
# Production settings: DEBUG off, real secrets, hashed static files from collectstatic served
# as whitenoise serves them. Only the HTTPS-only switches are off, because the test servers
# speak plain http on loopback (`manage.py check --deploy` is tested with them on).
(
  export DEBUG=False ALLOWED_HOSTS='*' \
    SECRET_KEY=test-run-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH \
    FERNET_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    SECURE_SSL_REDIRECT=False SESSION_COOKIE_SECURE=False CSRF_COOKIE_SECURE=False \
    STATIC_ROOT="$PWD/var/test-static" \
    DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/test} \
    REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
    TEST_BACKENDS=postgres,redis
  python manage.py collectstatic --noinput -v 0
  # loadgroup: tests marked xdist_group run on one worker (the fifty-client races).
  pytest -n "$workers" --dist loadgroup -q "$@"
)

echo "== pytest (fast tests) on SQLite"
# DEBUG=True: the embedded development defaults (dev keys, no collectstatic) a newcomer runs.
DEBUG=True DATABASE_URL="sqlite:///$PWD/var/test.sqlite3" REDIS_URL="" TEST_BACKENDS=sqlite \
  pytest -n "$workers" -q -m "not slow and not postgres and not redis and not browser" "$@"
