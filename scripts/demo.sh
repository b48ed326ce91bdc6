#!/usr/bin/env bash
# The main job: a real Label Studio 1.23.2 (SQLite, loopback) with a demo NER project holding
# injected label errors, scored by the tokenlq backend on embedded defaults. Prints the
# `Label issues` tab's precision and recall against the injected errors, its URL and the login;
# both servers keep running until `scripts/demo.sh stop`.
#
#   scripts/demo.sh [start]      needs tokenlq installed with the backend extra in .venv
#   scripts/demo.sh stop
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LS_PORT=${LS_PORT:-8089}
BACKEND_PORT=${BACKEND_PORT:-9090}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
state=${TOKENLQ_DEMO_DIR:-$ROOT/.tokenlq-demo}
mkdir -p "$state"
# Python runs from the state folder, so that the installed tokenlq is imported however it was
# installed: from the checkout's root, the source tree's tokenlq/ comes first on sys.path, and
# after a non-editable install it has no compiled kernels.
cd "$state"

if [ "${1:-start}" = stop ]; then
  if [ -f "$state/backend.pid" ]; then kill "$(cat "$state/backend.pid")" 2>/dev/null || true; rm -f "$state/backend.pid"; fi
  "$ROOT/scripts/labelstudio.sh" stop "$LS_PORT"
  exit 0
fi

# --reuse: a second run hands out the Label Studio that an earlier run started (its PID file in
# LS_HOME, the demo's state folder); the tests and benchmarks never reuse one.
exports=$("$ROOT/scripts/labelstudio.sh" start --reuse "$LS_PORT")
eval "$exports"
if [ -f "$state/backend.pid" ] && kill -0 "$(cat "$state/backend.pid")" 2>/dev/null; then
  kill "$(cat "$state/backend.pid")"; sleep 1
fi
LABEL_STUDIO_URL=$LS_URL LABEL_STUDIO_API_KEY=$LS_TOKEN TOKENLQ_DATA_DIR="$state/data" \
  nohup "$PYTHON" -m tokenlq.cli serve --host 127.0.0.1 --port "$BACKEND_PORT" \
  </dev/null >"$state/backend.log" 2>&1 &
echo $! >"$state/backend.pid"
for _ in $(seq 1 120); do
  "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$BACKEND_PORT/health', timeout=1)" 2>/dev/null && break
  kill -0 "$(cat "$state/backend.pid")" 2>/dev/null || { tail -30 "$state/backend.log" >&2; exit 1; }
  sleep 0.5
done
"$PYTHON" -m tokenlq_backend.demo --ls-url "$LS_URL" --ls-token "$LS_TOKEN" \
  --backend-url "http://127.0.0.1:$BACKEND_PORT"
echo "Log in as $LS_EMAIL / $LS_PASSWORD. Stop both servers with: scripts/demo.sh stop"
