#!/usr/bin/env bash
# Install (from Debian's packages, where missing) and start PostgreSQL and Redis on
# loopback only: PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379. Idempotent: run it
# as often as you like; what is installed is not reinstalled, what runs is not restarted.
set -euo pipefail

PG_USER=${PG_USER:-complaints}
PG_PASSWORD=${PG_PASSWORD:-complaints}
PG_DB=${PG_DB:-complaints}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Clusters and databases are UTF-8 whatever locale the machine (or CI) runs with.
export LANG=C.UTF-8 LC_ALL=C.UTF-8

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# A CJK font, so the browser tests' screenshots of the Chinese pages show characters, not boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -gt 0 ]; then
  echo "services: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d 101: the packages must not try to start daemons through an init system
  # that may not exist here; this script starts them itself. Any policy already there is
  # put back afterwards, whatever happens.
  [ -e /usr/sbin/policy-rc.d ] && $SUDO cp -p /usr/sbin/policy-rc.d /tmp/policy-rc.d.saved
  restore_policy() {
    if [ -e /tmp/policy-rc.d.saved ]; then $SUDO mv /tmp/policy-rc.d.saved /usr/sbin/policy-rc.d
    else $SUDO rm -f /usr/sbin/policy-rc.d; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
fi

# --- PostgreSQL --------------------------------------------------------------------------
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
# The newest server installed (a client-only version directory has no bin/postgres).
version=$(ls -d /usr/lib/postgresql/*/bin/postgres | awk -F/ '{print $5}' | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -q "^$version main$"; then
  $SUDO pg_createcluster "$version" main --port 5432 --locale C.UTF-8 --encoding UTF8 >/dev/null
fi
conf=/etc/postgresql/$version/main
$SUDO sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
$SUDO sed -i "s/^#\?port = .*/port = 5432/" "$conf/postgresql.conf"
# Tests run many short connections and eight concurrent writers; benchmarks more.
grep -q '^max_connections = 200' "$conf/postgresql.conf" \
  || $SUDO sed -i "s/^#\?max_connections = .*/max_connections = 200/" "$conf/postgresql.conf"
# The stock 128MB of shared buffers is far below what a database server is given: these
# machines have 24 GiB, and the benchmarks hold a million complaints (about 1 GB).
grep -q "^shared_buffers = 2GB" "$conf/postgresql.conf" \
  || $SUDO sed -i "s/^#\?shared_buffers = .*/shared_buffers = 2GB/" "$conf/postgresql.conf"
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  $SUDO pg_ctlcluster "$version" main start
elif [ "$(as_postgres psql -tAc 'SHOW shared_buffers' 2>/dev/null)" != "2GB" ]; then
  $SUDO pg_ctlcluster "$version" main restart
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432

# SUPERUSER is for the test suite only: creating test databases and, in clean-up,
# session_replication_role past the audit log's triggers. It listens on loopback only.
# Production uses a role made by `manage.py audit_db_roles`, which can do neither.
if [ "$(as_postgres psql -tAc "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != "1" ]; then
  as_postgres psql -qc "CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD'"
else  # bring an existing role into line
  as_postgres psql -qc "ALTER ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD'"
fi
if [ "$(as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != "1" ]; then
  as_postgres createdb -O "$PG_USER" -E UTF8 -T template0 --locale C.UTF-8 "$PG_DB"
fi

# --- Redis -------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
    --logfile /tmp/redis-complaints.log
  for _ in $(seq 1 30); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null

echo "services: PostgreSQL postgres://$PG_USER:***@127.0.0.1:5432/$PG_DB and Redis redis://127.0.0.1:6379/0 are up"
