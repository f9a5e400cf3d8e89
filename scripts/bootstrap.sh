#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv and the Debian packages the tests
# use. Safe to run repeatedly: it does nothing when requirements did not change since last time.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.cvat-serverless-stamp"
python="${PYTHON:-python3}"

# The locks in serverless/requirements/ are part of what requirements*.txt install.
want_stamp="$(cat requirements.txt requirements-nodeps.txt pyproject.toml serverless/requirements/*.txt | sha256sum | cut -d' ' -f1)"

if [ "${1:-}" = "--with-system" ]; then
  missing=""
  command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
  command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: installing Debian packages:$missing" >&2
      apt-get update -qq >/dev/null
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo "bootstrap: please install:$missing (tests that need them are skipped)" >&2
    fi
  fi
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  exit 0
fi

echo "bootstrap: setting up $venv (a few minutes the first time)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install -r requirements.txt
# Packages whose pins are stale (facenet-pytorch wants torch<2.3) or that want the non-headless
# OpenCV: their code works on our stack, so they are installed without their dependencies.
"${pip[@]}" install --no-deps -r requirements-nodeps.txt
# sam2 ships as an sdist; build it against the installed torch, without CUDA extensions (as the images do).
SAM2_BUILD_CUDA=0 "${pip[@]}" install --no-build-isolation -c serverless/requirements/addons.txt \
  -r serverless/requirements/sam2.txt
"${pip[@]}" install --no-deps -e .
echo "$want_stamp" > "$stamp"
