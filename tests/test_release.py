from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from deliver.errors import DeliverError, ManifestInvalid, ReleaseNotFound, shown
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


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("0.9.0", "0.10.0"),
        ("0.9.0", "0.9.1"),
        ("0.10.0", "1.0.0"),
        ("1.0.0-rc.1", "1.0.0"),
        # SemVer's own example: 1.0.0-alpha < -alpha.1 < -alpha.beta < -beta < -beta.2 < ...
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-alpha.beta", "1.0.0-beta"),
        ("1.0.0-beta", "1.0.0-beta.2"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-beta.11", "1.0.0-rc.1"),
        # build metadata: after the plain version of the same core, numbers in it by value
        ("0.1.0", "0.1.0+3-abc"),
        ("0.1.0+3-abc", "0.1.0+3-abd"),
        ("0.1.0+9-abc", "0.1.0+10-abc"),
        ("0.1.0+20260101", "0.1.0+20260102"),
        ("0.1.0+999", "0.1.1"),
        ("1.0.0-rc.1+5", "1.0.0"),
        # OTP-shaped versions
        ("25.2", "25.2.3"),
        ("25.2.3", "25.10"),
    ],
)
def test_version_order(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)
    assert sorted([newer, older], key=version_key) == [older, newer]


def test_the_newest_of_versions_that_sort_alike_is_the_last_built(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for version, built_at in (
        ("0.1.0", "2026-01-02T00:00:00Z"),
        ("0.01.0", "2026-01-01T00:00:00Z"),
    ):
        store.add(release(version, built_at=built_at), lambda f: f.write(b"archive"))
    assert store.find("hello").version == "0.1.0"
    assert [r.version for r in store.releases("hello")] == ["0.01.0", "0.1.0"]


def test_a_build_with_metadata_is_newer_than_the_plain_version(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for version in ("0.1.0+3-abc", "0.1.0", "0.1.0+10-def"):
        store.add(release(version), lambda f: f.write(b"archive"))
    assert store.find("hello").version == "0.1.0+10-def"


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
    with pytest.raises(ReleaseNotFound) as error:
        LocalStore(tmp_path).find("hello", kind="upgrade")
    assert error.value.hint == "build one first: deliver build upgrade --from=REF"


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


def test_an_upgrade_from_several_builds_knows_each_of_them() -> None:
    upgrade = replace(
        release("0.3.0"),
        kind="upgrade",
        from_version="0.1.0",
        from_commit="1" * 40,
        from_sha256="a" * 64,
        erts="13.1.5",
        appups=("hello", "dep"),
        also_from=("0.2.0 " + "2" * 40 + " " + "b" * 64,),
    )
    assert Release.from_json(upgrade.to_json()) == upgrade
    assert upgrade.from_versions == ("0.1.0", "0.2.0")
    assert upgrade.from_build("0.1.0") == ("1" * 40, "a" * 64)
    assert upgrade.from_build("0.2.0") == ("2" * 40, "b" * 64)
    assert release("0.1.0").from_versions == ()


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


# the gate: every field of a manifest against its grammar ----------------------------------

GOOD = json.loads(release("0.1.0").to_json())
PWNED = "$(touch PWNED)"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", f"0.1.2{PWNED}"),
        ("version", "0.1.2`touch PWNED`"),
        ("version", "0.1.2;touch PWNED"),
        ("version", "0.1.2\ntouch PWNED"),
        ("version", "/../../victim-dir"),
        ("version", ".."),
        ("version", ""),
        ("version", "-rf"),
        ("version", "1" * 129),
        ("version", 1.0),
        ("version", None),
        ("version", "v0.1.0"),
        ("version", "0.1.0\x1b]0;owned\x07"),
        ("from_version", f"0.1.0{PWNED}"),
        ("from_version", "../0.1.0"),
        ("from_version", ""),
        ("app", f"hello{PWNED}"),
        ("app", "../hello"),
        ("app", "Hello"),
        ("app", ""),
        ("app", "a" * 65),
        ("sha256", PWNED),
        ("sha256", "A" * 64),
        ("sha256", "0" * 63),
        ("sha256", "0" * 64 + "\n"),
        ("size", "7"),
        ("size", True),
        ("size", -1),
        ("size", 7.0),
        ("size", 2**64),
        ("commit", f"c0ffee{PWNED}"),
        ("commit", "c0ffe"),
        ("commit", "g" * 40),
        ("from_commit", "`id`"),
        ("branch", "main;touch PWNED"),
        ("branch", f"main{PWNED}"),
        ("branch", "../../main"),
        ("branch", "-main"),
        ("branch", "/main"),
        ("branch", "a..b"),
        ("branch", "main\n"),
        ("branch", "main branch"),
        ("branch", "b" * 256),
        ("branch", ""),
        ("tool", "mix`id`"),
        ("tool", "../mix"),
        ("tool", 3),
        ("built_at", "now"),
        ("built_at", "2026-13-45T00:00:00Z"),
        ("built_at", "2026-01-01T00:00:00Z;id"),
        ("kind", "release;id"),
        ("kind", "../upgrade"),
        ("generated_appups", ["hello", "$(id)"]),
        ("generated_appups", "hello"),
        ("changed_protocols", ["Elixir.Enumerable\n"]),
        ("changed_protocols", [1]),
        ("from_sha256", "a" * 63),
        ("erts", "13.1.5;id"),
        ("appups", ["hello", "../x"]),
        ("changed_nifs", ["$(id)"]),
        ("changed_supervisors", ["a b"]),
        ("also_from", ["0.1.5 " + "f" * 40]),
        ("also_from", ["0.1.5;id " + "f" * 40 + " " + "a" * 64]),
        ("also_from", ["0.1.5 " + "f" * 40 + " " + "a" * 64 + " extra"]),
        ("also_from", "0.1.5"),
    ],
)
def test_a_malicious_manifest_is_refused_naming_the_field(field: str, value: object) -> None:
    text = json.dumps({**GOOD, field: value})
    with pytest.raises(ManifestInvalid) as error:
        Release.from_json(text)
    assert error.value.field == field
    message = str(error.value)
    assert message.startswith(f"{field}: ")
    # the value is shown escaped and short: one line, no terminal escapes
    assert "\n" not in message and "\x1b" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "manifest: expected JSON: "),
        ("[]", "manifest: expected a JSON object, got []"),
        ('"0.1.0"', "manifest: expected a JSON object, got '0.1.0'"),
        ("[" * 100_000 + "]" * 100_000, "manifest: expected at most 65536 bytes"),
        ("[" * 30_000 + "]" * 30_000, "manifest: expected a JSON object in UTF-8"),
        (b'{"app": "\xff"}', "manifest: expected a JSON object in UTF-8"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "sha256"}), "sha256: missing"),
    ],
)
def test_what_is_not_a_manifest_object_is_refused(text: str | bytes, problem: str) -> None:
    with pytest.raises(ManifestInvalid) as error:
        Release.from_json(text)
    assert str(error.value).startswith(problem)


def test_unknown_keys_are_ignored_and_good_values_pass() -> None:
    text = json.dumps(
        {
            **GOOD,
            "signed_by": "a newer deliver",
            "version": "1.2.3-rc.1+42-82a5834_main",
            "branch": "feature/ünïcode-1.2",
            "kind": "upgrade",
            "from_version": "25.2.3",
            "from_commit": "abcdef1",
            "generated_appups": ["hello", "hello_web"],
            "changed_protocols": ["Elixir.Enumerable", "Elixir.String.Chars"],
        }
    )
    upgrade = Release.from_json(text)
    assert upgrade.version == "1.2.3-rc.1+42-82a5834_main"
    assert upgrade.changed_protocols == ("Elixir.Enumerable", "Elixir.String.Chars")


def test_a_release_made_in_code_passes_the_same_gate() -> None:
    with pytest.raises(ManifestInvalid, match="sha256: expected 64 lowercase hex digits"):
        replace(release("0.1.0"), sha256="$(id)")


@pytest.mark.parametrize(
    ("value", "shown_as"),
    [("abc", "'abc'"), ("\x1b[2J", "'\\x1b[2J'"), ("x" * 100, "'" + "x" * 56 + "...")],
)
def test_bad_values_are_shown_escaped_and_truncated(value: str, shown_as: str) -> None:
    assert shown(value) == shown_as
