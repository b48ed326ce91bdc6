#!/usr/bin/env bash
# The README's test command: the system packages the tests need (Debian's chromium for the
# dashboard's page test, redis-server for the RQ tests, docker-compose to validate the compose
# file without a Docker engine), a virtual environment with every extra, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
for tool in chromium redis-server docker-compose; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium redis-server docker-compose >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,encoder,backend]'
exec .venv/bin/python -m pytest "$@"
