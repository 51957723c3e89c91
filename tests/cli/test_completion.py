"""`deliver completion`: the scripts, and what Tab offers (through click's completion protocol,
as the shell would ask it: the real `deliver` program in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deliver.release import Release, now
from tests.conftest import run_cli

DELIVER = Path(sys.executable).parent / "deliver"
CONFIG = """\
app: hello
release_store: .deliver-releases
environments:
  production: {hosts: [web1], deliver_to: /srv/hello}
  staging: {hosts: [web1], deliver_to: /srv/hello-staging}
"""


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")],
)
def test_each_shell_gets_its_script(shell: str, marker: str) -> None:
    result = run_cli("completion", shell)
    assert result.exit_code == 0 and marker in result.stdout


def complete(cwd: Path, words: str) -> list[str]:
    env = {
        **os.environ,
        "_DELIVER_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run([DELIVER], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    # click answers one `type,value` line per candidate
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_tab_completes_commands_environments_and_stored_versions(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".deliver").write_text(CONFIG)
    store = tmp_path / ".deliver-releases"
    store.mkdir()
    for version in ("0.1.0", "0.2.0"):
        manifest = Release("hello", version, "a" * 40, "main", "mix", now(), "b" * 64, 1)
        (store / manifest.manifest_name).write_text(manifest.to_json())
        (store / f"hello_{version}.release.tar.gz").write_bytes(b"")
    assert "deploy" in complete(tmp_path, "deliver de")
    assert complete(tmp_path, "deliver deploy release to pr") == ["production"]
    assert complete(tmp_path, "deliver ping s") == ["staging"]
    assert complete(tmp_path, "deliver deploy release production --version 0.") == [
        "0.2.0",
        "0.1.0",
    ]


def test_tab_offers_nothing_and_prints_no_error_without_a_config(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert complete(tmp_path, "deliver ping ") == []
