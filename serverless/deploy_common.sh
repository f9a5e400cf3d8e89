#!/usr/bin/env bash
# Shared by deploy_cpu.sh and deploy_gpu.sh (sourced; they set YAML_NAME first).
# Portable: bash 3.2 and POSIX tools only (macOS works), no GNU-only flags.

NUCLIO_PINNED_VERSION="1.16"
SERVERLESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  cat <<USAGE
Usage: $(basename "$0") [options] [PATH ...]

Deploys every function under each PATH (default: all of serverless/) with nuctl, using ${YAML_NAME}.
Each image is built from a staged context: the function folder, the function library (common/)
and the pin locks (requirements/), so no host volume is needed and --platform kube works.

Options (environment variable in brackets):
  --platform local|kube     nuctl platform, default local            [CVAT_NUCLIO_PLATFORM]
  --namespace NS            Nuclio namespace                          [CVAT_NUCLIO_NAMESPACE]
  --registry URL            image registry to push to (kube)          [CVAT_NUCLIO_REGISTRY]
  --run-registry URL        registry the cluster pulls from (kube)    [CVAT_NUCLIO_RUN_REGISTRY]
  --network NAME            Docker network (local), default cvat_cvat [CVAT_NUCLIO_NETWORK]
  --env KEY=VALUE           extra function environment (repeatable)
  --dry-run                 print every command, run nothing          [CVAT_DEPLOY_DRY_RUN=1]
  -h, --help                this help
Redis for the SAM2 tracker state: CVAT_FUNCTIONS_REDIS_HOST (default cvat_redis_ondisk),
CVAT_FUNCTIONS_REDIS_PORT (default 6666), CVAT_FUNCTIONS_REDIS_PASSWORD (default none).
Tracker state signing: CVAT_FN_STATE_SECRET (default: a random secret drawn for this run).
Weights: CVAT_FN_REQUIRE_CHECKSUM=1 makes every build refuse weights whose checksum is not pinned.
USAGE
}

die() { echo "error: $*" >&2; exit "${2:-1}"; }
warn() { echo "warning: $*" >&2; }

# Print a command shell-quoted (for --dry-run and the log), then run it unless dry-running.
run() {
  line=""
  for arg in "$@"; do
    case "$arg" in
      *[!A-Za-z0-9_./:=,@-]*|"") line="$line '$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'" ;;
      *) line="$line $arg" ;;
    esac
  done
  echo "+${line}"
  if [ "$DRY_RUN" != "1" ]; then
    "$@"
  fi
}

parse_args() {
  PLATFORM="${CVAT_NUCLIO_PLATFORM:-local}"
  NAMESPACE="${CVAT_NUCLIO_NAMESPACE:-}"
  REGISTRY="${CVAT_NUCLIO_REGISTRY:-}"
  RUN_REGISTRY="${CVAT_NUCLIO_RUN_REGISTRY:-}"
  NETWORK="${CVAT_NUCLIO_NETWORK:-cvat_cvat}"
  DRY_RUN="${CVAT_DEPLOY_DRY_RUN:-0}"
  EXTRA_ENV=""
  PATHS=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --platform) PLATFORM="${2:?--platform needs a value}"; shift 2 ;;
      --namespace) NAMESPACE="${2:?--namespace needs a value}"; shift 2 ;;
      --registry) REGISTRY="${2:?--registry needs a value}"; shift 2 ;;
      --run-registry) RUN_REGISTRY="${2:?--run-registry needs a value}"; shift 2 ;;
      --network) NETWORK="${2:?--network needs a value}"; shift 2 ;;
      --env)
        case "${2:-}" in *=*) ;; *) die "--env expects KEY=VALUE, got '${2:-}'" ;; esac
        EXTRA_ENV="${EXTRA_ENV}${2}
"; shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      -*) die "unknown option $1 (see --help)" ;;
      *) PATHS="${PATHS}${1}
"; shift ;;
    esac
  done
  case "$PLATFORM" in local|kube) ;; *) die "--platform must be local or kube, got '$PLATFORM'" ;; esac
  REQUIRE_CHECKSUM="${CVAT_FN_REQUIRE_CHECKSUM:-}"
  case "$REQUIRE_CHECKSUM" in
    *[!A-Za-z0-9]*) die "CVAT_FN_REQUIRE_CHECKSUM must be a plain word like 1, got '$REQUIRE_CHECKSUM'" ;;
  esac
  [ -n "$PATHS" ] || PATHS="${SERVERLESS_DIR}
"
}

check_nuctl() {
  if ! command -v nuctl >/dev/null 2>&1; then
    if [ "$DRY_RUN" = "1" ]; then
      warn "nuctl is not on PATH (dry run goes on)"
      return 0
    fi
    die "nuctl is not on PATH; install nuctl ${NUCLIO_PINNED_VERSION}.x (https://github.com/nuclio/nuclio/releases)" 2
  fi
  version="$(nuctl version 2>/dev/null | grep -o '[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*' | head -n 1)"
  case "$version" in
    "${NUCLIO_PINNED_VERSION}".*) ;;
    *) warn "nuctl ${version:-of unknown version} differs from the Nuclio dashboard this project is pinned to (${NUCLIO_PINNED_VERSION}.x); mismatches break deploys" ;;
  esac
}

platform_args() {
  set -- --platform "$PLATFORM"
  [ -z "$NAMESPACE" ] || set -- "$@" --namespace "$NAMESPACE"
  printf '%s\n' "$@"
}

# Function folders to deploy, one per line: every folder holding a function.yaml under each PATH.
# A folder without ${YAML_NAME} is skipped with a warning, or is an error when named explicitly.
collect_functions() {
  printf '%s' "$PATHS" | while IFS= read -r path; do
    [ -n "$path" ] || continue
    [ -e "$path" ] || die "no such path: $path"
    if [ -f "$path/function.yaml" ] && [ ! -f "$path/$YAML_NAME" ]; then
      die "$path has no $YAML_NAME"
    fi
    find "$path" -name function.yaml -not -path '*/fixtures/*' | sort | while IFS= read -r config; do
      dir="$(cd "$(dirname "$config")" && pwd)"
      if [ -f "$dir/$YAML_NAME" ]; then
        echo "$dir"
      else
        warn "skipping $dir: it has no $YAML_NAME"
      fi
    done
  done
}

deploy_one() {
  dir="$1"
  context="$(mktemp -d "${TMPDIR:-/tmp}/cvat-fn.XXXXXX")"
  STAGED="$STAGED $context"
  run cp -R "$dir/." "$context/"
  run cp -R "$SERVERLESS_DIR/common" "$context/common"
  run cp -R "$SERVERLESS_DIR/requirements" "$context/requirements"
  run find "$context" -name __pycache__ -type d -prune -exec rm -rf {} +
  if [ -n "$REQUIRE_CHECKSUM" ]; then
    # Build steps see no deploy-time environment; an ENV first in postCopy (where the weights are
    # fetched, since common/ is in the image only then) reaches common.fetch_weights.
    run require_checksum_in "$context/$YAML_NAME"
  fi
  set -- nuctl deploy --project-name cvat --path "$context" --file "$context/$YAML_NAME"
  while IFS= read -r arg; do set -- "$@" "$arg"; done <<EOF_ARGS
$(platform_args)
EOF_ARGS
  set -- "$@" --env "CVAT_FUNCTIONS_REDIS_HOST=${CVAT_FUNCTIONS_REDIS_HOST:-cvat_redis_ondisk}"
  set -- "$@" --env "CVAT_FUNCTIONS_REDIS_PORT=${CVAT_FUNCTIONS_REDIS_PORT:-6666}"
  set -- "$@" --env "CVAT_FN_STATE_SECRET=${STATE_SECRET}"
  [ -z "${CVAT_FUNCTIONS_REDIS_PASSWORD:-}" ] || set -- "$@" --env "CVAT_FUNCTIONS_REDIS_PASSWORD=${CVAT_FUNCTIONS_REDIS_PASSWORD}"
  while IFS= read -r pair; do
    [ -z "$pair" ] || set -- "$@" --env "$pair"
  done <<EOF_ENV
$EXTRA_ENV
EOF_ENV
  if [ "$PLATFORM" = "local" ]; then
    set -- "$@" --platform-config "{\"attributes\": {\"network\": \"${NETWORK}\"}}"
  else
    [ -z "$REGISTRY" ] || set -- "$@" --registry "$REGISTRY"
    [ -z "$RUN_REGISTRY" ] || set -- "$@" --run-registry "$RUN_REGISTRY"
  fi
  echo "deploying $dir" >&2
  run "$@"
}

# Insert "ENV CVAT_FN_REQUIRE_CHECKSUM=<value>" as the first postCopy directive of a staged yaml.
require_checksum_in() {
  awk -v value="$REQUIRE_CHECKSUM" '
    { print }
    !done && /^[ ]*postCopy:[ ]*$/ {
      indent = $0; sub(/[^ ].*$/, "", indent)
      print indent "  - kind: ENV"
      print indent "    value: CVAT_FN_REQUIRE_CHECKSUM=" value
      done = 1
    }' "$1" > "$1.tmp" && mv "$1.tmp" "$1"
}

cleanup() {
  for context in $STAGED; do
    rm -rf "$context"
  done
}

main() {
  parse_args "$@"
  check_nuctl
  STAGED=""
  # Tracker states are signed with this secret; every worker of a function must share it.
  STATE_SECRET="${CVAT_FN_STATE_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
  trap cleanup EXIT
  functions="$(collect_functions)" || exit 1
  [ -n "$functions" ] || die "no function with $YAML_NAME found"
  pargs="$(platform_args | tr '\n' ' ')"
  # shellcheck disable=SC2086  # pargs holds simple words only
  if [ "$DRY_RUN" = "1" ] || ! nuctl get project cvat $pargs >/dev/null 2>&1; then
    run nuctl create project cvat $pargs
  fi
  while IFS= read -r dir; do
    deploy_one "$dir"
  done <<EOF_FUNCTIONS
$functions
EOF_FUNCTIONS
  # shellcheck disable=SC2086
  run nuctl get function $pargs
}
