#!/usr/bin/env bash
# A real Label Studio 1.23.2 on 127.0.0.1 for tests and the demo: its own virtual environment,
# SQLite in a throw-away data directory, a known legacy API token, loopback allowed for ML
# backends and webhooks.
#
#   eval "$(scripts/labelstudio.sh start [PORT])"   # exports LS_URL LS_TOKEN LS_PID LS_LOG LS_DATA
#                                                   # (a running one started here is reused)
#   scripts/labelstudio.sh stop [PORT]
#
# LS_HOME (default ~/.cache/tokenlq-labelstudio) holds the environment, a migrated data-directory
# template (a fresh database costs 25-50 s of migrations, a copy of the template 3-6 s), logs and
# PID files. Progress goes to stderr so that stdout stays safe for eval.
set -euo pipefail

VERSION=1.23.2
LS_HOME=${LS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenlq-labelstudio}
command=${1:-}
port=${2:-8089}
pid_file="$LS_HOME/ls-$port.pid"
log="$LS_HOME/ls-$port.log"
data="$LS_HOME/data-$port"
template="$LS_HOME/template"
# The template's user and token: a local test server on loopback, never a deployment.
admin_email=admin@example.com
admin_password=tokenlq-test-password
token_file="$LS_HOME/token"

say() { echo "labelstudio.sh: $*" >&2; }

install() {
  if "$LS_HOME/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('label-studio') != '$VERSION')" 2>/dev/null; then
    return
  fi
  say "installing label-studio $VERSION into $LS_HOME/venv (about 2 minutes)"
  python3 -m venv "$LS_HOME/venv"
  if ! "$LS_HOME/venv/bin/pip" install --quiet "label-studio==$VERSION" >"$LS_HOME/pip-install.log" 2>&1; then
    tail -30 "$LS_HOME/pip-install.log" >&2
    exit 1
  fi
}

port_free() {
  python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(0 if s.connect_ex(('127.0.0.1', $1)) else 1)"
}

launch() {  # launch DATA_DIR: start the server on $port and wait for /health
  export LABEL_STUDIO_BASE_DATA_DIR="$1"
  export LABEL_STUDIO_USERNAME=$admin_email LABEL_STUDIO_PASSWORD=$admin_password
  export LABEL_STUDIO_USER_TOKEN
  LABEL_STUDIO_USER_TOKEN=$(cat "$token_file")
  export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true
  export LABEL_STUDIO_HOST="http://127.0.0.1:$port"
  export SSRF_PROTECTION_ENABLED=false ML_BLOCK_LOCAL_IP=false   # backend and webhooks on loopback
  export LABEL_STUDIO_LATEST_VERSION_CHECK=false SENTRY_DSN= FRONTEND_SENTRY_DSN= COLLECT_ANALYTICS=false
  # Label Studio moves silently to the next free port when its port is busy: refuse instead.
  port_free "$port" || { say "port $port is busy"; exit 1; }
  nohup "$LS_HOME/venv/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$port" \
    </dev/null >"$log" 2>&1 &
  echo $! >"$pid_file"
  local pid=$!
  for _ in $(seq 1 480); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
      return
    fi
    kill -0 "$pid" 2>/dev/null || { say "Label Studio exited; log tail:"; tail -40 "$log" >&2; exit 1; }
    sleep 0.5
  done
  say "Label Studio did not answer /health within 240 s"; tail -40 "$log" >&2; exit 1
}

stop() {
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  # Only signal the recorded process, and only if it still is Label Studio (PID files go stale).
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q label-studio; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pid_file"
}

case "$command" in
  start)
    mkdir -p "$LS_HOME"
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      # Already running (an earlier start): hand out the same server again.
      if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
        say "Label Studio is already running on port $port; reusing it"
        echo "export LS_URL=http://127.0.0.1:$port LS_TOKEN=$(cat "$token_file") LS_PID=$(cat "$pid_file")" \
             "LS_LOG=$log LS_DATA=$data LS_EMAIL=$admin_email LS_PASSWORD=$admin_password"
        exit 0
      fi
      say "a Label Studio recorded in $pid_file is running but not answering; stop it first"; exit 1
    fi
    install
    if [ ! -d "$template" ]; then
      say "creating the migrated template data directory (25-50 s, once)"
      python3 -c "import secrets; print(secrets.token_hex(20))" >"$token_file"
      rm -rf "$template.tmp"
      launch "$template.tmp"
      stop
      mv "$template.tmp" "$template"
    fi
    rm -rf "$data"
    cp -a "$template" "$data"
    launch "$data"
    echo "export LS_URL=http://127.0.0.1:$port LS_TOKEN=$(cat "$token_file") LS_PID=$(cat "$pid_file")" \
         "LS_LOG=$log LS_DATA=$data LS_EMAIL=$admin_email LS_PASSWORD=$admin_password"
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
