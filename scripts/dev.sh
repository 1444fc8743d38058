#!/usr/bin/env bash
# Set up a virtualenv in .venv (idempotent) and run the demo or the tests.
#   scripts/dev.sh demo     the main job: semantic cache on the embedded Redis Stack
#   scripts/dev.sh test     lint, type-check, the packaging smoke test (scripts/wheel_smoke.sh:
#                           the built wheel in a fresh virtualenv; WHEEL_SMOKE=0 skips it)
#                           and the full test suite (what CI runs)
#   scripts/dev.sh setup    only install
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  # torch first, pinned: on these machines 2.13.0 is a CPU build on local disk;
  # an unpinned torch would pull a multi-GB CUDA build.
  if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet "torch==2.13.0"
  fi
  "$VENV/bin/pip" install --quiet -e ".[dev]"
}

case "${1:-test}" in
  setup)
    setup
    ;;
  demo)
    setup
    shift || true
    exec "$VENV/bin/agentcache" demo "$@"
    ;;
  test)
    setup
    shift || true
    "$VENV/bin/ruff" check agentcache tests bench scripts
    "$VENV/bin/mypy" agentcache
    if [ "${WHEEL_SMOKE:-1}" != 0 ]; then
      PYTHON="$PYTHON" scripts/wheel_smoke.sh
    fi
    exec "$VENV/bin/pytest" -q -p no:cacheprovider "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh [setup|demo|test]" >&2
    exit 2
    ;;
esac
