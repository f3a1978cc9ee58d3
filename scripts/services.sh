#!/usr/bin/env bash
# Makes sure what the test suite talks to is running on loopback: PostgreSQL (5432), Redis
# (6379) and Debian's Chromium for browser tests. Uses what answers; installs from Debian's
# packages and starts only what is missing, so a fresh machine needs nothing done by hand.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    answers "$port" && return 0
    sleep 0.5
  done
  echo "services: $name did not start on 127.0.0.1:$port" >&2
  return 1
}

ensure_postgres() {
  if ! answers 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      echo "services: installing PostgreSQL"
      apt_install postgresql
    fi
    echo "services: starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for 5432 PostgreSQL
  fi
  # A password for the postgres role makes the URL work whether the cluster trusts loopback
  # (as the CI machines do; the password is then ignored) or asks for one (Debian's default).
  if command -v psql >/dev/null; then
    local run_as=()
    if [ "$(id -u)" = 0 ]; then run_as=(su postgres -c); fi
    if [ ${#run_as[@]} -gt 0 ]; then
      "${run_as[@]}" "psql -q -c \"ALTER ROLE postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
      "${run_as[@]}" "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" >/dev/null 2>&1 || true
    fi
  fi
}

ensure_redis() {
  if answers 6379; then return 0; fi
  if ! command -v redis-server >/dev/null; then
    echo "services: installing Redis"
    apt_install redis-server
  fi
  echo "services: starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for 6379 Redis
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  echo "services: installing Chromium"
  apt_install chromium fonts-liberation
}

for what in "${@:-postgres redis chromium}"; do
  for w in $what; do "ensure_$w"; done
done
