#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing, lints, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "-----> ruff"
.venv/bin/ruff check deliver tests bench
.venv/bin/ruff format --check deliver tests bench
echo "-----> mypy"
.venv/bin/mypy
echo "-----> pytest"
exec .venv/bin/pytest -ra "$@"
