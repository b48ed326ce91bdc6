#!/usr/bin/env bash
# The README's test command: the system packages the tests need (Debian's chromium for the
# dashboard's page test, redis-server for the RQ tests, postgresql for the store's tests on
# PostgreSQL, docker-compose to validate the compose file without a Docker engine), the core's
# tests on the newest and the oldest allowed numpy and pandas (scripts/test-deps.sh), then a
# virtual environment with every extra and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
for tool in chromium redis-server docker-compose; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
# Debian's PostgreSQL server sits in its versioned library folder, not on PATH.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing="$missing postgresql"
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium redis-server docker-compose \
    postgresql >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,encoder,backend,docs]'
# The core on the newest and oldest dependencies first, so that the main run's summary (every
# test, nothing skipped) is the last word.
deps=0
scripts/test-deps.sh || deps=$?
# Every extra is installed: their tests must run, so a missing one fails instead of skipping.
status=0
TOKENLQ_TEST_ALL_EXTRAS=1 .venv/bin/python -m pytest "$@" || status=$?
# pytest's own status first, so that .ci/run still tells "no tests collected" (5) apart.
if [ "$status" -ne 0 ]; then exit "$status"; fi
if [ "$deps" -ne 0 ]; then echo "scripts/test-deps.sh failed (above)" >&2; fi
exit "$deps"
