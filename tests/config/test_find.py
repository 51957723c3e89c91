"""Finding the config file from anywhere in the app's repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config.find import find_config, project_dir
from deliver.errors import ConfigError
from tests.conftest import run_cli

CONFIG = """\
app: notes
environments:
  production:
    hosts: [web1]
    deliver_to: /srv/notes
"""


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / ".git").mkdir(parents=True)
    (root / "lib" / "notes").mkdir(parents=True)
    return root


@pytest.mark.parametrize("name", [".deliver.yml", "deliver.yml", ".deliver"])
def test_found_from_a_subdirectory_of_the_repo(tmp_path: Path, name: str) -> None:
    root = repo(tmp_path)
    (root / name).write_text(CONFIG)
    assert find_config(root / "lib" / "notes") == root / name
    assert project_dir(root / name) == root


def test_an_edeliver_directory_may_hold_deliver_yml(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / ".deliver").mkdir()
    (root / ".deliver" / "config").write_text('APP="notes"\n')
    (root / ".deliver" / "deliver.yml").write_text(CONFIG)
    found = find_config(root / "lib")
    assert found == root / ".deliver" / "deliver.yml"
    assert project_dir(found) == root  # releases and hooks/ stay beside mix.exs


def test_the_search_stops_at_the_work_tree_root(tmp_path: Path) -> None:
    (tmp_path / ".deliver.yml").write_text(CONFIG)  # outside the repository: not its config
    root = repo(tmp_path)
    with pytest.raises(ConfigError, match=r"no config file in .* or above it"):
        find_config(root / "lib")


def test_only_edeliver_config_says_so_and_points_at_the_importer(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / ".deliver").mkdir()
    (root / ".deliver" / "config").write_text('APP="notes"\n')
    with pytest.raises(ConfigError) as refused:
        find_config(root / "lib" / "notes")
    assert refused.value.hint is not None
    assert "edeliver's bash config" in refused.value.hint
    assert "deliver import edeliver --write" in refused.value.hint


def test_the_cli_uses_the_parent_config_and_says_which_with_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path)
    (root / ".deliver").write_text(CONFIG + "release_store: .deliver-releases\n")
    monkeypatch.chdir(root / "lib" / "notes")
    result = run_cli("--verbose", "show", "releases")
    assert result.exit_code == 0, result.output
    assert f"using {root / '.deliver'}" in result.stdout
    # the default local store is beside the config, not in the current directory
    assert f"no releases of notes in {root / '.deliver-releases'}" in result.stdout
