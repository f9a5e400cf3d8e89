#!/usr/bin/env bash
# Run every check the project has: install/refresh .venv, style, yaml lint, catalog, shell, tests.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k mtcnn`).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh --with-system
bin="$root/.venv/bin"

step() { printf '\n== %s\n' "$*"; }

step "ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .

step "function.yaml lint"
"$bin/cvat-serverless" lint serverless/

step "function catalog is up to date"
"$bin/cvat-serverless" catalog --check

if command -v shellcheck >/dev/null 2>&1; then
  step "shellcheck"
  find scripts serverless .ci -maxdepth 1 \( -name '*.sh' -o -name run \) -type f -exec shellcheck -x {} +
fi

step "pytest"
"$bin/python" -m pytest -q -p no:cacheprovider "$@"
