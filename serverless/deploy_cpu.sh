#!/usr/bin/env bash
# Deploy every function under the given paths (default: all of serverless/) with function.yaml.
set -eu
YAML_NAME="function.yaml"
# shellcheck source=serverless/deploy_common.sh
. "$(cd "$(dirname "$0")" && pwd)/deploy_common.sh"
main "$@"
