"""The hot-upgrade preflight's judgement of the build a node runs (host/release_handler.py):
pure, table-driven; the sandbox tests in tests/commands/test_hot_preflight.py run it on hosts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deliver.errors import NodeError
from deliver.host.release_handler import NodeCheck, Switch, install
from deliver.host.running_build import build_problem, check_done
from deliver.release import Release
from deliver.transport.local import LocalRemote
from tests.host.test_scripts import add_release, history, local, new_root

OLD_COMMIT, OLD_SHA = "1" * 40, "a" * 64


def upgrade(**fields: object) -> Release:
    values: dict[str, object] = {
        "app": "hello",
        "version": "0.3.0",
        "commit": "3" * 40,
        "branch": None,
        "tool": "mix",
        "built_at": "2026-01-01T00:00:00Z",
        "sha256": "c" * 64,
        "size": 1,
        "kind": "upgrade",
        "from_version": "0.1.0",
        "from_commit": OLD_COMMIT,
        "from_sha256": OLD_SHA,
        "also_from": ("0.2.0 " + "2" * 40 + " " + "b" * 64,),
    }
    return Release(**(values | fields))  # type: ignore[arg-type]


def node(version: str, directory: str = "0.1.0") -> NodeCheck:
    return NodeCheck(
        "web1", "/srv/app", f"/srv/app/releases/{directory}", "mix", version, "42", False
    )


@pytest.mark.parametrize(
    ("check", "answers", "problem"),
    [
        # the directory's own release, the build the upgrade is from
        (node("0.1.0"), {"DIR_SHA256": OLD_SHA, "DIR_COMMIT": OLD_COMMIT}, None),
        # the same version, another archive (a rebuild of that commit, or another commit)
        (node("0.1.0"), {"DIR_SHA256": "d" * 64, "DIR_COMMIT": OLD_COMMIT}, "from archive dddd"),
        (node("0.1.0"), {"DIR_SHA256": OLD_SHA, "DIR_COMMIT": "9" * 40}, "commit 9999999999"),
        # a release deployed before deliver recorded builds: not held against it
        (node("0.1.0"), {}, None),
        # a hot step: the commit the step recorded, against the upgrade's other from-build
        (node("0.2.0"), {"RUN_COMMIT": "2" * 40, "DIR_SHA256": OLD_SHA}, None),
        (node("0.2.0"), {"RUN_COMMIT": "8" * 40}, "built from commit 8888888888"),
    ],
)
def test_the_node_must_run_the_build_the_upgrade_is_from(
    check: NodeCheck, answers: dict[str, str], problem: str | None
) -> None:
    found = build_problem(upgrade(), check.version, check.node_root, answers)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert "deliver build upgrade --from=" in found


@pytest.mark.parametrize(
    ("directory", "answers", "done"),
    [
        # hot-upgraded into 0.1.0's directory: the commit the hot step recorded
        ("0.1.0", {"RUN_COMMIT": "3" * 40, "DIR_COMMIT": OLD_COMMIT}, True),
        ("0.1.0", {"RUN_COMMIT": "7" * 40, "DIR_COMMIT": "3" * 40}, False),
        # deployed cold: the directory's own commit
        ("0.3.0", {"DIR_COMMIT": "3" * 40, "RUN_COMMIT": "7" * 40}, True),
        ("0.3.0", {"DIR_COMMIT": "7" * 40}, False),
        # nothing recorded (an older deliver): not held against it
        ("0.1.0", {}, True),
    ],
)
def test_a_node_on_the_target_version_is_done_only_with_the_upgrades_build(
    directory: str, answers: dict[str, str], done: bool
) -> None:
    root = f"/srv/app/releases/{directory}"
    if done:
        check_done("web1", upgrade(), root, answers)
    else:
        with pytest.raises(NodeError, match=r"runs 0\.3\.0 built from commit 7777777777, not the"):
            check_done("web1", upgrade(), root, answers)


#: A mix start script for one node, answering like one whose `install_release` restarts the
#: emulator: the install's rpc loses its connection, the node does not answer for a while,
#: then answers the new version from the same OS pid. `REFUSE` makes the install a plain
#: refusal instead: the node answers its old version all along.
FAKE_NODE = """#!/bin/sh
cd "$(dirname "$0")/.."
case "$2" in
  *install_release*)
    [ -f REFUSE ] && { echo 'install_release: {:error, :bad}'; exit 1; }
    touch installing; echo 'noconnection' >&2; exit 1 ;;
  *which_releases*)
    if [ -f installing ]; then
      n=$(( $(cat polls 2>/dev/null || echo 0) + 1 )); echo $n > polls
      [ $n -ge 3 ] || exit 1
      echo 0.2.0
    else echo 0.1.0; fi ;;
  *System.pid*) echo 4242 ;;
esac
"""


def fake_node(tmp_path: Path) -> tuple[LocalRemote, NodeCheck]:
    root = new_root(tmp_path)
    directory = add_release(root, "0.1.0")
    (directory / "bin").mkdir()
    (directory / "bin/hello").write_text(FAKE_NODE)
    (directory / "bin/hello").chmod(0o755)
    (root / "current").symlink_to("releases/0.1.0")
    check = NodeCheck("localhost", str(root), str(directory), "mix", "0.1.0", "4242", False)
    return local(), check


def test_after_install_release_the_node_is_asked_until_it_answers(tmp_path: Path) -> None:
    remote, check = fake_node(tmp_path)
    status = install(remote, check, Switch("hello", "0.1.0", "0.2.0", upgrade()), settle=20)
    assert status.version == "0.2.0"
    assert status.detail.startswith("0.1.0 -> 0.2.0, hot (pid 4242 kept, ")
    root = Path(check.root)
    assert (Path(check.node_root) / "polls").read_text().strip() == "3"  # asked until it answered
    assert os.readlink(root / "current") == "releases/0.2.0"
    assert history(root) == ["deployed 0.2.0"]


def test_a_refused_install_leaves_the_node_as_it_was_and_says_so(tmp_path: Path) -> None:
    remote, check = fake_node(tmp_path)
    (Path(check.node_root) / "REFUSE").touch()
    with pytest.raises(NodeError) as refused:
        install(remote, check, Switch("hello", "0.1.0", "0.2.0", upgrade()), settle=2)
    assert "did not switch to 0.2.0: the node runs 0.1.0 as before (pid 4242)" in str(refused.value)
    assert "install_release: {:error, :bad}" in str(refused.value)
    assert os.readlink(Path(check.root) / "current") == "releases/0.1.0"
