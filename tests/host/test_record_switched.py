"""Recording what a hot-upgraded node runs when the install's own record was cut off
(release_handler.record_switched, relink), on this machine with a fake layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deliver.errors import CommandFailed
from deliver.host.release_handler import record_switched, relink
from tests.host.test_release_handler import fake_node
from tests.host.test_scripts import add_release, history


def test_a_node_switched_under_its_directory_is_recorded(tmp_path: Path) -> None:
    remote, check = fake_node(tmp_path)  # current -> releases/0.1.0, its node's directory
    record_switched(remote, check, "hello", "0.2.0")
    root = Path(check.root)
    assert os.readlink(root / "current") == "releases/0.2.0"
    assert os.readlink(root / "releases/0.2.0") == "0.1.0"
    assert history(root) == ["deployed 0.2.0"]
    record_switched(remote, check, "hello", "0.2.0")  # recorded: nothing more to write
    assert history(root) == ["deployed 0.2.0"]


def test_a_current_naming_another_directory_is_left_alone(tmp_path: Path) -> None:
    # 0.3.0 deployed without a restart: the next start boots it, whatever the node runs
    remote, check = fake_node(tmp_path)
    root = Path(check.root)
    add_release(root, "0.3.0")
    (root / "current").unlink()
    (root / "current").symlink_to("releases/0.3.0")
    record_switched(remote, check, "hello", "0.2.0")
    assert os.readlink(root / "current") == "releases/0.3.0"
    assert not (root / "releases/0.2.0").exists()


def test_a_record_whose_alias_fails_leaves_current_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, check = fake_node(tmp_path)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "ln").write_text(
        '#!/bin/sh\ncase "$*" in *releases/.0.2.0.*) exit 1 ;; esac\nexec /bin/ln "$@"\n'
    )
    (shims / "ln").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    with pytest.raises(CommandFailed):
        relink(remote, check, "0.2.0")
    root = Path(check.root)
    assert os.readlink(root / "current") == "releases/0.1.0"  # never at a missing alias
    assert not (root / "deliver.history").exists()  # nothing recorded either
