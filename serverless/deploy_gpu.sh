#!/usr/bin/env bash
# Deploy every function under the given paths (default: all of serverless/) with function-gpu.yaml (CUDA images, 1 worker, nvidia.com/gpu: 1).
set -eu
YAML_NAME="function-gpu.yaml"
# shellcheck source=serverless/deploy_common.sh
. "$(cd "$(dirname "$0")" && pwd)/deploy_common.sh"
main "$@"
