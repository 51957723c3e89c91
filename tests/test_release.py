from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from deliver.errors import DeliverError, ReleaseNotFound
from deliver.host.unpack import host_archive
from deliver.release import Release, version_key
from deliver.release_store import LocalStore


def release(
    version: str, data: bytes = b"archive", built_at: str = "2026-01-01T00:00:00Z"
) -> Release:
    return Release(
        "hello",
        version,
        "c0ffee" * 6 + "abcd",
        "main",
        "mix",
        built_at,
        hashlib.sha256(data).hexdigest(),
        len(data),
    )


def test_names_follow_edeliver() -> None:
    assert release("1.2.3").archive_name == "hello_1.2.3.release.tar.gz"
    assert release("1.2.3").manifest_name == "hello_1.2.3.release.json"


def test_manifest_round_trip() -> None:
    original = release("0.1.0")
    assert Release.from_json(original.to_json()) == original


def test_version_order() -> None:
    versions = ["0.10.0", "0.9.0", "1.0.0", "1.0.0-rc.1", "0.9.1"]
    assert sorted(versions, key=version_key) == ["0.9.0", "0.9.1", "0.10.0", "1.0.0-rc.1", "1.0.0"]


def test_store_finds_newest_and_by_version(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for version in ("0.9.0", "0.10.0"):
        store.add(release(version), lambda f: f.write(b"archive"))
    assert store.find("hello").version == "0.10.0"
    assert store.find("hello", "0.9.0").version == "0.9.0"
    assert (tmp_path / "store" / "hello_0.9.0.release.tar.gz").read_bytes() == b"archive"
    with pytest.raises(ReleaseNotFound, match=r"no release 2.0.0 of hello .* 0.9.0, 0.10.0"):
        store.find("hello", "2.0.0")


def test_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(ReleaseNotFound) as error:
        LocalStore(tmp_path).find("hello")
    assert error.value.hint == "build one first: deliver build release"


def test_corrupted_transfer_leaves_nothing_behind(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(DeliverError, match="arrived corrupted"):
        store.add(release("0.1.0"), lambda f: f.write(b"truncated"))
    assert list(tmp_path.iterdir()) == []
    assert store.releases("hello") == []


def test_an_upgrade_manifest_round_trips_with_its_from_version() -> None:
    upgrade = replace(
        release("0.2.0"),
        kind="upgrade",
        from_version="0.1.0",
        from_commit="f" * 40,
        generated_appups=("hello",),
        changed_protocols=("Elixir.Enumerable",),
    )
    assert upgrade.archive_name == "hello_0.2.0.upgrade.tar.gz"
    assert upgrade.manifest_name == "hello_0.2.0.upgrade.json"
    assert Release.from_json(upgrade.to_json()) == upgrade


def test_the_store_keeps_releases_and_upgrades_apart(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    plain = release("0.2.0", b"release")
    upgrade = replace(release("0.2.0", b"upgrade"), kind="upgrade", from_version="0.1.0")
    for item, data in ((plain, b"release"), (upgrade, b"upgrade")):
        store.add(item, lambda file, data=data: file.write(data))
    assert store.releases("hello") == [plain]
    assert store.find("hello", "0.2.0", kind="upgrade") == upgrade
    assert host_archive(plain) == "0.2.0.tar.gz"
    assert host_archive(upgrade) == "0.2.0.upgrade.tar.gz"
