"""The appups kept beside an upgrade in the store: written, read back, replaced, removed with
the upgrade, and every hostile file a store may hold named and skipped. The cases here are
shared with the SSH and S3 store tests (test_ssh.py, test_s3.py)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from deliver.release import Release
from deliver.release_store import LocalStore, ReleaseStore
from deliver.release_store.appups import MAX_APPUP_BYTES, parse_name, read_appups
from tests.release_store.test_base import good_release, output

GOOD = {
    "hello/0.1.0-0.2.0.appup": b'%% The appup of hello 0.1.0 -> 0.2.0\n{"0.2.0",[],[]}.\n',
    "hello/0.1.1-rc.1-0.2.0.appup": b'{"0.2.0",[{"0.1.1-rc.1",[]}],[{"0.1.1-rc.1",[]}]}.\n',
    "dep/1.0.0-1.1.0.appup": b'{"1.1.0",[],[]}.\n',
}
#: What a tampered store may hold beside an upgrade: name -> (content, why it is refused).
HOSTILE = {
    "hello/0.1.0-0.2.0.appup.sh": (b"{}.", "not <app>/<old>-<new>.appup"),
    "hello/..-0.2.0.appup": (b"{}.", "not <app>/<old>-<new>.appup"),
    "Hello/0.1.0-0.2.0.appup": (b"{}.", "not <app>/<old>-<new>.appup"),
    "other/0.1.0-0.2.0.appup": (b"{}.", "the upgrade has no appup of other (it has hello, dep)"),
    "hello/0.0.1-0.2.0.appup": (b"\x1b]0;owned\x07{}.", "holds control characters"),
    "hello/0.0.2-0.2.0.appup": (b"\xff\xfe{}.", "not UTF-8 text"),
    "hello/0.0.3-0.2.0.appup": (b"%" * (MAX_APPUP_BYTES + 10), "larger than 256 KiB"),
}


def upgrade_in(directory: Path) -> Release:
    good = good_release(directory)
    return LocalStore(directory).add(
        replace(
            good, version="0.2.0", kind="upgrade", from_version="0.1.0", appups=("hello", "dep")
        ),
        lambda file: file.write(b"a good archive"),
    )


def check_round_trip(store: ReleaseStore, upgrade: Release) -> None:
    """Written, read back as written (sorted by name), then replaced by fewer files."""
    store.put_appups(upgrade, GOOD)
    read = store.appups(upgrade)
    assert [a.name for a in read] == sorted(GOOD)
    assert {a.name: a.text.encode() for a in read} == GOOD
    assert [(a.app, a.old, a.new) for a in read if a.app == "hello"] == [
        ("hello", "0.1.0", "0.2.0"),
        ("hello", "0.1.1-rc.1", "0.2.0"),
    ]
    one = {"hello/0.1.0-0.2.0.appup": b'{"0.2.0",[],[]}.\n'}
    store.put_appups(upgrade, one)
    assert {a.name: a.text.encode() for a in store.appups(upgrade)} == one


def check_hostile(
    store: ReleaseStore, upgrade: Release, plant: Callable[[str, bytes], None], stderr: io.StringIO
) -> None:
    """Beside one good appup, each hostile file is named with why, and skipped."""
    store.put_appups(upgrade, {"hello/0.1.0-0.2.0.appup": GOOD["hello/0.1.0-0.2.0.appup"]})
    for name, (content, _why) in HOSTILE.items():
        plant(name, content)
    assert [a.name for a in store.appups(upgrade)] == ["hello/0.1.0-0.2.0.appup"]
    warned = {
        line.split(f"{upgrade.archive_name}.appups/", 1)[1].split(": ", 1)[0]: line
        for line in stderr.getvalue().splitlines()
    }
    assert sorted(warned) == sorted(HOSTILE)
    for name, (_content, why) in HOSTILE.items():
        assert warned[name].startswith("warning: skipping "), warned[name]
        assert why in warned[name]


def test_parse_name_splits_versions_holding_dashes() -> None:
    assert parse_name("hello/0.1.0-0.2.0.appup") == ("hello", "0.1.0", "0.2.0")
    assert parse_name("hello/1.0.0-rc.1-1.0.0.appup") == ("hello", "1.0.0", "rc.1-1.0.0")
    assert parse_name("hello/0.1.0.appup") is None
    assert parse_name("hello/sub/0.1.0-0.2.0.appup") is None
    assert parse_name("../0.1.0-0.2.0.appup") is None
    assert parse_name("hello/-0.1.0-0.2.0.appup") is None


def test_an_upgrade_stored_before_appups_were_kept_has_none(tmp_path: Path) -> None:
    upgrade = upgrade_in(tmp_path)
    assert LocalStore(tmp_path).appups(upgrade) == []


def test_local_store_keeps_appups_beside_the_upgrade(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    upgrade = upgrade_in(tmp_path)
    check_round_trip(store, upgrade)
    directory = tmp_path / f"{upgrade.archive_name}.appups"
    assert sorted(p.name for p in directory.iterdir()) == ["hello"]
    assert (directory / "hello/0.1.0-0.2.0.appup").stat().st_mode & 0o777 == 0o600
    assert not [p for p in directory.rglob("*") if p.name.endswith(".part")]
    # the store's listing of upgrades does not take the directory for anything
    assert store.releases("hello", "upgrade") == [upgrade]
    store.remove(upgrade)
    assert not directory.exists()


def test_local_store_names_and_skips_hostile_appups(tmp_path: Path) -> None:
    out, stderr = output()
    store = LocalStore(tmp_path, out)
    upgrade = upgrade_in(tmp_path)
    directory = tmp_path / f"{upgrade.archive_name}.appups"

    def plant(name: str, content: bytes) -> None:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(content)

    check_hostile(store, upgrade, plant, stderr)


def test_local_store_reads_no_appup_through_a_link_nor_a_fifo(tmp_path: Path) -> None:
    out, stderr = output()
    store = LocalStore(tmp_path, out)
    upgrade = upgrade_in(tmp_path)
    store.put_appups(upgrade, {"hello/0.1.0-0.2.0.appup": b'{"0.2.0",[],[]}.\n'})
    directory = tmp_path / f"{upgrade.archive_name}.appups"
    secret = tmp_path / "secret"
    secret.write_text('{"0.2.0",[],[]}.\n')
    (directory / "hello/0.0.1-0.2.0.appup").symlink_to(secret)
    (directory / "dep").symlink_to(tmp_path)
    os.mkfifo(directory / "hello/0.0.2-0.2.0.appup")
    assert [a.name for a in store.appups(upgrade)] == ["hello/0.1.0-0.2.0.appup"]
    assert stderr.getvalue().count("cannot be read") == 2
    assert "hello/0.0.1-0.2.0.appup: cannot be read: a symbolic link" in stderr.getvalue()
    assert "hello/0.0.2-0.2.0.appup: cannot be read: not a regular file" in stderr.getvalue()


def test_a_store_refuses_to_write_a_name_that_is_not_an_appups(tmp_path: Path) -> None:
    upgrade = upgrade_in(tmp_path)
    with pytest.raises(ValueError, match="not an appup file name"):
        LocalStore(tmp_path).put_appups(upgrade, {"../../escape.appup": b"{}."})


def test_read_appups_without_names_recorded_takes_any_app() -> None:
    upgrade = Release(
        "hello", "0.2.0", "c0ffee1", None, "mix", "2026-01-01T00:00:00Z", "0" * 64, 1,
        kind="upgrade", from_version="0.1.0",
    )  # fmt: skip
    read = read_appups([("dep/1.0.0-1.1.0.appup", b"{}.")], upgrade, "store", None)
    assert [a.app for a in read] == ["dep"]
