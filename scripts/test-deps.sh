#!/usr/bin/env bash
# The core's tests (tests/core and tokenlq/'s doctests) on the newest numpy and pandas the
# registry serves and on the oldest versions pyproject.toml allows; scripts/test.sh runs it
# after the main suite. .venv cannot show either: the backend extra caps numpy below 2.3
# (label-studio-sdk 2.1.2 -> opencv-python-headless<4.13). Each environment has the core and the
# test extra only (the encoder's tests skip, saying so) and prints the numpy and pandas it
# resolved and its times.
#
#   scripts/test-deps.sh [newest|oldest ...]     both by default
#
# .venv-newest/ and .venv-oldest/ are made anew on every run. Each installs, in editable mode,
# a copy of the working tree (tracked and untracked files, not the ignored ones) in its src/:
# the kernels are compiled in that copy, so the checkout's tokenlq/ keeps .venv's own build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# uv (from PyPI, into the environment itself): it installed the newest set in 23 s where pip
# took 81 s, and it can pick each direct requirement's lowest allowed version.
install_newest() {  # every dependency at the newest version the registry serves
  "$1/bin/python" -m pip install --quiet uv
  "$1/bin/uv" pip install --quiet --python "$1/bin/python" --upgrade -e "$1/src[test]"
}

install_oldest() {  # each requirement of pyproject.toml at its floor, their own ones the newest
  "$1/bin/python" -m pip install --quiet uv
  "$1/bin/uv" pip install --quiet --python "$1/bin/python" --resolution lowest-direct -e "$1/src[test]"
}

run() {  # in a subshell with errexit: any failing step fails this environment
  local name=$1 env=$root/.venv-$1 start status versions
  rm -rf "$env"
  python3 -m venv "$env"
  mkdir "$env/src"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' file; do if [ -e "$file" ]; then printf '%s\0' "$file"; fi; done \
    | tar --null -T - -cf - | tar -xf - -C "$env/src"
  # tests/core/test_io.py looks for ../shared/data beside the checkout: seen from the copy, that
  # is $env/shared.
  if [ -d "$root/../shared" ]; then ln -s "$root/../shared" "$env/shared"; fi
  start=$SECONDS
  "install_$name" "$env"
  versions=$("$env/bin/python" -c \
    'import numpy, pandas; print(f"numpy {numpy.__version__}, pandas {pandas.__version__}")')
  echo "$name: installed in $((SECONDS - start)) s: $versions"
  start=$SECONDS
  status=0
  (cd "$env/src" && "$env/bin/python" -m pytest tests/core tokenlq -q -p no:cacheprovider) \
    || status=$?
  echo "$name: tests ran in $((SECONDS - start)) s ($versions), pytest exit status $status"
  if [ "$status" -eq 5 ]; then
    echo "$name: pytest collected no tests" >&2
  fi
  return "$status"
}

envs=("$@")
if [ "${#envs[@]}" -eq 0 ]; then envs=(newest oldest); fi
failed=""
for name in "${envs[@]}"; do
  case $name in
    newest|oldest) ;;
    *) echo "unknown environment '$name': newest or oldest" >&2; exit 2 ;;
  esac
  set +e
  (set -e; run "$name")
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then failed="$failed $name"; fi
done
if [ -n "$failed" ]; then
  echo "the core's tests failed on:$failed" >&2
  exit 1
fi
