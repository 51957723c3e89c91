"""`deliver import edeliver` from a non-editable install: the example hooks it copies are the
wheel's package data, not files of deliver's source tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.commands.test_edeliver import _project
from tests.conftest import REPO


@pytest.mark.slow
def test_a_wheel_install_copies_the_example_hooks(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in place leaves build/ in the repository
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "deliver", source / "deliver", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", wheels, source],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("deliver-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel],
        check=True, capture_output=True,
    )  # fmt: skip
    # deliver's dependencies from this venv, as a plain path: its editable deliver finder
    # (a .pth file there) is not loaded, so `import deliver` can only find the wheel's
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = _project(tmp_path, "readme_phoenix")
    python = venv / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import deliver; print(deliver.__file__)"],
        check=True, capture_output=True, text=True, cwd=project,
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout
    result = subprocess.run(
        [python, "-m", "deliver", "import", "edeliver", "--write"],
        capture_output=True, text=True, cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("copy_secret_file", "phoenix_assets"):
        copied = project / "hooks" / name
        assert copied.read_bytes() == (REPO / "hooks" / name).read_bytes()
        assert copied.stat().st_mode & 0o111 == 0o111
        assert f"copied deliver's hooks/{name} to {copied}" in result.stderr
    assert "from deliver's repository" not in result.stderr
