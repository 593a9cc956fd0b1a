#!/usr/bin/env bash
# Set up .venv with test dependencies and run the tests. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "slow or not slow"` to include the slow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
