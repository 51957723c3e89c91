#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing, lints, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "-----> ruff"
.venv/bin/ruff check deliver tests bench scripts
.venv/bin/ruff format --check deliver tests bench scripts
echo "-----> mypy"
.venv/bin/mypy
echo "-----> layers (import-linter) and house rules (scripts/check_layout.py)"
.venv/bin/lint-imports --no-cache
.venv/bin/python scripts/check_layout.py
echo "-----> pytest"
exec .venv/bin/pytest -ra "$@"
