"""The pure parts of `deliver upgrade` and `build upgrade` (commands/upgrade.py, build.py): which
version the hosts upgrade from when a rerun finds some already on the target, and copying
stored appups into the project. No hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.commands.build import write_appups
from deliver.commands.upgrade import _agreed, _under_way
from deliver.errors import UsageError
from deliver.release import Release
from deliver.release_store import StoredAppup

TARGET = "3" * 40


def upgrade(version: str, *olds: str, commit: str = TARGET) -> Release:
    also = tuple(f"{old} {'1' * 40} {'a' * 64}" for old in olds[1:])
    return Release(
        "hello", version, commit, None, "mix", "2026-01-01T00:00:00Z", "c" * 64, 1,
        kind="upgrade", from_version=olds[0], also_from=also,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("versions", "upgrades", "running"),
    [
        # all agree: no upgrade under way
        ({"web1": "0.1.0", "web2": "0.1.0"}, [upgrade("0.2.0", "0.1.0")], "0.1.0"),
        # web1 took the upgrade to the target commit, web2 did not: web2 goes on from 0.1.0
        ({"web1": "0.2.0", "web2": "0.1.0"}, [upgrade("0.2.0", "0.1.0")], "0.1.0"),
        ({"web1": "0.3.0", "web2": "0.2.0"}, [upgrade("0.3.0", "0.1.0", "0.2.0")], "0.2.0"),
    ],
)
def test_a_rerun_upgrades_from_what_the_hosts_not_yet_on_the_target_run(
    versions: dict[str, str], upgrades: list[Release], running: str
) -> None:
    assert _agreed(versions, _under_way(upgrades, versions, TARGET)) == running


@pytest.mark.parametrize(
    ("versions", "upgrades"),
    [
        # the stored upgrade to 0.2.0 is from another commit than the target
        ({"web1": "0.2.0", "web2": "0.1.0"}, [upgrade("0.2.0", "0.1.0", commit="9" * 40)]),
        # it is not from what web2 runs
        ({"web1": "0.2.0", "web2": "0.0.9"}, [upgrade("0.2.0", "0.1.0")]),
        # three versions: not a rerun of one upgrade
        ({"a": "0.2.0", "b": "0.1.0", "c": "0.1.5"}, [upgrade("0.2.0", "0.1.0", "0.1.5")]),
    ],
)
def test_hosts_on_different_versions_are_named_otherwise(
    versions: dict[str, str], upgrades: list[Release]
) -> None:
    with pytest.raises(UsageError, match="the hosts do not run the same version"):
        _agreed(versions, _under_way(upgrades, versions, TARGET))


def test_stored_appups_are_written_as_overrides_and_a_differing_file_is_kept(
    tmp_path: Path,
) -> None:
    appups = [
        StoredAppup("hello", "0.1.0", "0.2.0", '{"0.2.0",[],[]}.\n'),
        StoredAppup("dep", "1.0.0", "1.1.0", '{"1.1.0",[],[]}.\n'),
    ]
    written = write_appups(appups, tmp_path / "rel/appups")
    assert written == [
        str(tmp_path / "rel/appups/hello/0.1.0-0.2.0.appup"),
        str(tmp_path / "rel/appups/dep/1.0.0-1.1.0.appup"),
    ]
    assert write_appups(appups, tmp_path / "rel/appups") == []  # up to date
    mine = tmp_path / "rel/appups/dep/1.0.0-1.1.0.appup"
    mine.write_text("%% mine\n")
    with pytest.raises(UsageError, match=r"1\.0\.0-1\.1\.0\.appup already exists and differs"):
        write_appups(appups, tmp_path / "rel/appups")
    assert mine.read_text() == "%% mine\n"
    assert write_appups(appups, tmp_path / "rel/appups", force=True) == [str(mine)]
    assert mine.read_text() == '{"1.1.0",[],[]}.\n'
