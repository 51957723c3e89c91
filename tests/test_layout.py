"""The house rules of deliver/ (README, "How the code is laid out"): the layers contract of
import-linter and scripts/check_layout.py (no cycles, modules <= 400 lines, functions <= 60
lines, click/paramiko/boto3 each behind one wall) hold, and each would fail on a violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "deliver", tmp_path / "deliver")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def check_layout(package: Path) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "check_layout.py"
    return subprocess.run(
        [sys.executable, str(script), str(package)], capture_output=True, text=True
    )


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    # the copy comes first on the path, before the installed (editable) deliver
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=project, env=env, capture_output=True, text=True
    )


def test_the_package_keeps_the_house_rules() -> None:
    measured = check_layout(ROOT / "deliver")
    assert measured.returncode == 0, measured.stdout + measured.stderr


def test_a_cycle_a_long_function_and_click_outside_cli_are_each_reported(
    tmp_path: Path,
) -> None:
    project = copy_of_the_package(tmp_path)
    with (project / "deliver" / "shell.py").open("a") as shell:
        shell.write("\nimport click\nfrom deliver.output import Output\n\n\ndef long() -> None:\n")
        shell.write("    pass\n" * 61)
    measured = check_layout(project / "deliver")
    assert measured.returncode == 1
    assert "click imported outside cli/" in measured.stdout
    assert "import cycle" in measured.stdout and "deliver.shell" in measured.stdout
    assert "long has 62 lines (max 60)" in measured.stdout


def test_the_layers_contract_holds() -> None:
    linted = lint_imports(ROOT)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "1 kept, 0 broken" in linted.stdout


def test_the_layers_contract_breaks_when_a_host_module_imports_a_command(tmp_path: Path) -> None:
    project = copy_of_the_package(tmp_path)
    with (project / "deliver" / "host" / "node.py").open("a") as node:
        node.write("\nimport deliver.commands.deploy  # noqa: E402\n")
    linted = lint_imports(project)
    assert linted.returncode == 1
    assert "deliver.host is not allowed to import deliver.commands" in linted.stdout
    assert "deliver.host.node -> deliver.commands.deploy" in linted.stdout
