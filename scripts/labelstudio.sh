#!/usr/bin/env bash
# A real Label Studio 1.23.2 on 127.0.0.1 for tests and the demo: its own virtual environment,
# SQLite in a throw-away data directory, a known legacy API token, loopback allowed for ML
# backends and webhooks.
#
#   eval "$(scripts/labelstudio.sh start [--reuse] [PORT])"
#       exports LS_URL LS_TOKEN LS_PID LS_LOG LS_DATA LS_EMAIL LS_PASSWORD; with --reuse (the
#       demo's), a server that this state folder's PID file records on PORT is handed out again
#   scripts/labelstudio.sh stop [PORT]     stops only the server recorded in this state folder
#
# LS_HOME (default ~/.cache/tokenlq-labelstudio) holds what every server shares: the virtual
# environment and a migrated data-directory template with its API token (a fresh database costs
# 25-50 s of migrations, a copy of the template 3-6 s). LS_STATE (default LS_HOME, the demo's)
# holds one server's PID file, log and data directory: ls-PORT.pid, ls-PORT.log, data-PORT. The
# tests and benchmarks pass a folder of their own, so that they never see the demo's server.
# Progress goes to stderr so that stdout stays safe for eval.
set -euo pipefail

VERSION=1.23.2
LS_HOME=${LS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenlq-labelstudio}
LS_STATE=${LS_STATE:-$LS_HOME}
usage() { echo "usage: $0 start [--reuse] [PORT] | stop [PORT]" >&2; exit 2; }
command=${1:-}
if [ $# -gt 0 ]; then shift; fi
reuse=false
port=8089
for arg in "$@"; do
  case "$arg" in
    --reuse) [ "$command" = start ] || usage; reuse=true ;;
    '' | *[!0-9]*) usage ;;
    *) port=$arg ;;
  esac
done
pid_file="$LS_STATE/ls-$port.pid"
log="$LS_STATE/ls-$port.log"
data="$LS_STATE/data-$port"
template="$LS_HOME/template"
# The template's user; its token is made with the template and kept in it (TOKEN_NAME, copied
# with it into each data directory). A local test server on loopback, never a deployment.
admin_email=admin@example.com
admin_password=tokenlq-test-password
TOKEN_NAME=tokenlq-token
build=""   # a template being built, removed if this script exits before it is in place

say() { echo "labelstudio.sh: $*" >&2; }

token_of() {  # token_of DATA_DIR (a template made before the token moved into it: LS_HOME/token)
  cat "$1/$TOKEN_NAME" 2>/dev/null || cat "$LS_HOME/token"
}

installed() {
  "$LS_HOME/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('label-studio') != '$VERSION')" 2>/dev/null
}

install() {
  installed && return
  # Starters racing on a fresh machine: one installs, the others wait for it.
  exec 9>"$LS_HOME/install.lock"
  if command -v flock >/dev/null; then flock 9; fi
  if ! installed; then
    say "installing label-studio $VERSION into $LS_HOME/venv (about 2 minutes)"
    python3 -m venv "$LS_HOME/venv"
    if ! "$LS_HOME/venv/bin/pip" install --quiet "label-studio==$VERSION" >"$LS_HOME/pip-install.log" 2>&1; then
      tail -30 "$LS_HOME/pip-install.log" >&2
      exit 1
    fi
  fi
  exec 9>&-
}

port_free() {
  python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(0 if s.connect_ex(('127.0.0.1', $1)) else 1)"
}

answers() {
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null
}

recorded_running() {  # the PID file names a live Label Studio (PID files go stale, PIDs are reused)
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q label-studio
}

launch() {  # launch DATA_DIR: start the server on $port and wait for /health
  export LABEL_STUDIO_BASE_DATA_DIR="$1"
  export LABEL_STUDIO_USERNAME=$admin_email LABEL_STUDIO_PASSWORD=$admin_password
  export LABEL_STUDIO_USER_TOKEN
  LABEL_STUDIO_USER_TOKEN=$(token_of "$1")
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
    answers && return
    kill -0 "$pid" 2>/dev/null || { say "Label Studio exited; log tail:"; tail -40 "$log" >&2; stop; exit 1; }
    sleep 0.5
  done
  say "Label Studio did not answer /health within 240 s"; tail -40 "$log" >&2; stop; exit 1
}

make_template() {
  # Built in a folder of its own and renamed into place: a starter that loses the race to
  # another one discards its copy and uses the winner's.
  say "creating the migrated template data directory (25-50 s, once)"
  build=$(mktemp -d "$LS_HOME/template.build.XXXXXX")
  trap '[ -z "$build" ] || rm -rf "$build"' EXIT
  python3 -c "import secrets; print(secrets.token_hex(20))" >"$build/$TOKEN_NAME"
  launch "$build"
  stop
  if ! mv -T "$build" "$template" 2>/dev/null; then
    [ -d "$template" ] || { say "could not move $build to $template"; exit 1; }
    say "another start made the template first; using that one"
    rm -rf "$build"
  fi
  build=""
}

stop() {
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  # Only signal the recorded process, and only if it still is Label Studio.
  if recorded_running; then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rm -f "$pid_file"
}

exports() {
  echo "export LS_URL=http://127.0.0.1:$port LS_TOKEN=$(token_of "$data") LS_PID=$(cat "$pid_file")" \
       "LS_LOG=$log LS_DATA=$data LS_EMAIL=$admin_email LS_PASSWORD=$admin_password"
}

case "$command" in
  start)
    mkdir -p "$LS_HOME" "$LS_STATE"
    if recorded_running; then
      if ! "$reuse"; then
        say "a Label Studio recorded in $pid_file is running; stop it first ($0 stop $port)"; exit 1
      fi
      if answers; then
        say "Label Studio is already running on port $port; reusing it"
        exports
        exit 0
      fi
      say "a Label Studio recorded in $pid_file is running but not answering; stop it first"; exit 1
    fi
    install
    [ -d "$template" ] || make_template
    rm -rf "$data"
    cp -a "$template" "$data"
    launch "$data"
    exports
    ;;
  stop)
    stop
    ;;
  *)
    usage
    ;;
esac
