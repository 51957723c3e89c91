"""Reading a store's manifests through the Release gate: a tampered manifest is named and
skipped, never fatal for the others, and asking for exactly its version says why. The set of
tampered manifests here is shared with the SSH, S3 and end-to-end deploy tests."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deliver.errors import ManifestInvalid, ReleaseNotFound
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import LocalStore

#: The file a payload would make: its own name per run, so that no other test's marker counts.
MARKER = f"PWNED-{uuid.uuid4().hex[:8]}"
PWNED = f"$(touch {MARKER})"

#: (the version in the file name, the fields the manifest changes, the field named as bad).
#: Names hold only what a file name can; the manifests hold what an attacker would write.
TAMPERED: list[tuple[str, dict[str, Any], str]] = [
    (f"0.1.2{PWNED}", {"version": f"0.1.2{PWNED}"}, "version"),
    (f"0.1.3`touch {MARKER}`", {"version": f"0.1.3`touch {MARKER}`"}, "version"),
    (f"0.1.4;touch {MARKER}", {"version": f"0.1.4;touch {MARKER}"}, "version"),
    ("9.9.9", {"version": "/../../victim-dir"}, "version"),
    ("", {"version": ""}, "version"),
    ("1" * 200, {"version": "1" * 200}, "version"),
    ("v1.0.0", {"version": "v1.0.0"}, "version"),
    ("0.1.5\x1b]0;owned\x07", {"version": "0.1.5\x1b]0;owned\x07"}, "version"),
    ("9.0.0", {"version": "0.2.8"}, "version"),  # a name to be taken for the newest
    ("0.2.0", {"version": "0.2.0", "sha256": PWNED}, "sha256"),
    ("0.2.1", {"version": "0.2.1", "size": f"12; touch {MARKER}"}, "size"),
    ("0.2.2", {"version": "0.2.2", "commit": f"`touch {MARKER}`"}, "commit"),
    ("0.2.3", {"version": "0.2.3", "branch": f"main\ntouch {MARKER}"}, "branch"),
    ("0.2.4", {"version": "0.2.4", "tool": f"mix;touch {MARKER}"}, "tool"),
    ("0.2.5", {"version": "0.2.5", "built_at": PWNED}, "built_at"),
    ("0.2.6", {"version": "0.2.6", "kind": f"release{PWNED}"}, "kind"),
    ("0.2.7", {"version": "0.2.7", "app": f"hello{PWNED}"}, "app"),
    ("0.2.9", {"version": "0.2.9", "changed_protocols": [PWNED]}, "changed_protocols"),
]
#: Manifests that are not a JSON object at all: (version in the file name, the file's text).
NOT_MANIFESTS = [("0.3.0", PWNED), ("0.3.1", '["0.3.1"]')]


def plant(store: Path, good: Release) -> dict[str, str]:
    """Beside `good` (already in `store`), write every tampered manifest with a copy of its
    archive under the same name; returns each manifest's file name -> the field to be named."""
    archive = store / good.archive_name
    data: dict[str, Any] = json.loads(good.to_json())
    planted: dict[str, str] = {}
    texts = [(v, json.dumps({**data, **change}), field) for v, change, field in TAMPERED]
    texts += [(version, text, "manifest") for version, text in NOT_MANIFESTS]
    for version, text, field in texts:
        name = f"{good.app}_{version}.release"
        (store / f"{name}.json").write_text(text)
        shutil.copy(archive, store / f"{name}.tar.gz")
        planted[f"{name}.json"] = field
    return planted


def good_release(store: Path, version: str = "0.1.0") -> Release:
    data = b"a good archive"
    release = Release(
        "hello",
        version,
        "c0ffee1",
        "main",
        "mix",
        "2026-01-01T00:00:00Z",
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    return LocalStore(store).add(release, lambda file: file.write(data))


def output() -> tuple[Output, io.StringIO]:
    stderr = io.StringIO()
    return Output(io.StringIO(), stderr, color=False), stderr


def warnings_by_file(stderr: str, location: str) -> Mapping[str, str]:
    """Each `warning: skipping <location>/<file>: <field>: ...` line, by file, the field."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        assert line.startswith(f"warning: skipping {location}/"), line
        name, field = line.removeprefix(f"warning: skipping {location}/").split(": ")[:2]
        found[name] = field
    return found


def shown_name(name: str) -> str:
    """How a warning names a file: as it is, or escaped when it would not print as itself."""
    return name if name.isprintable() and " " not in name else repr(name)


def test_tampered_manifests_are_named_and_skipped(tmp_path: Path) -> None:
    good = good_release(tmp_path)
    planted = plant(tmp_path, good)
    out, stderr = output()
    store = LocalStore(tmp_path, out)
    assert store.releases("hello") == [good]
    assert store.find("hello") == good
    warned = warnings_by_file(stderr.getvalue(), str(tmp_path))
    assert warned == {shown_name(name): field for name, field in planted.items()}
    assert "\x1b" not in stderr.getvalue()


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("0.2.0", "hello_0.2.0.release.json: sha256: expected 64 lowercase hex digits, got "),
        ("9.0.0", "hello_9.0.0.release.json: version: '0.2.8' is not what the file name says"),
        ("0.3.0", "hello_0.3.0.release.json: manifest: expected JSON: "),
    ],
)
def test_asking_for_a_tampered_version_says_it_is_invalid(
    tmp_path: Path, version: str, message: str
) -> None:
    plant(tmp_path, good_release(tmp_path))
    out, stderr = output()
    with pytest.raises(ManifestInvalid) as error:
        LocalStore(tmp_path, out).find("hello", version)
    assert message in str(error.value)
    assert error.value.hint and "tampered" in error.value.hint
    # the others are still reported, the one asked for only once: as the error
    assert f"{version}.release.json" not in stderr.getvalue()
    assert stderr.getvalue().count("warning: skipping") == len(TAMPERED) + len(NOT_MANIFESTS) - 1


def test_a_store_of_tampered_manifests_only_holds_nothing(tmp_path: Path) -> None:
    good = good_release(tmp_path)
    plant(tmp_path, good)
    (tmp_path / good.manifest_name).unlink()
    with pytest.raises(ReleaseNotFound, match="holds no release of hello"):
        LocalStore(tmp_path, output()[0]).find("hello")


def test_a_manifest_that_is_not_a_regular_file_neither_hangs_nor_fills_memory(
    tmp_path: Path,
) -> None:
    good = good_release(tmp_path)
    os.mkfifo(tmp_path / "hello_0.5.0.release.json")
    (tmp_path / "hello_0.6.0.release.json").symlink_to("/dev/zero")
    (tmp_path / "hello_0.7.0.release.json").write_bytes(b" " * (1 << 20))
    for version in ("0.5.0", "0.6.0", "0.7.0"):
        shutil.copy(tmp_path / good.archive_name, tmp_path / f"hello_{version}.release.tar.gz")
    out, stderr = output()
    assert LocalStore(tmp_path, out).releases("hello") == [good]
    assert warnings_by_file(stderr.getvalue(), str(tmp_path)) == {
        f"hello_{version}.release.json": "manifest" for version in ("0.5.0", "0.6.0", "0.7.0")
    }
    assert "0.5.0.release.json: manifest: cannot be read: not a regular file" in stderr.getvalue()


def test_another_apps_valid_manifests_are_not_warned_about(tmp_path: Path) -> None:
    good = good_release(tmp_path)
    admin = LocalStore(tmp_path).add(
        replace(good, app="hello_admin"),
        lambda file: file.write(b"a good archive"),
    )
    out, stderr = output()
    assert LocalStore(tmp_path, out).releases("hello") == [good]
    assert LocalStore(tmp_path, out).releases("hello_admin") == [admin]
    assert stderr.getvalue() == ""


def test_a_tampered_upgrade_manifest_is_skipped_too(tmp_path: Path) -> None:
    good = good_release(tmp_path)
    upgrade = LocalStore(tmp_path).add(
        replace(good, version="0.2.0", kind="upgrade", from_version="0.1.0"),
        lambda file: file.write(b"a good archive"),
    )
    data = json.loads(upgrade.to_json())
    for version, from_version in (("0.3.0", f"0.2.0{PWNED}"), ("0.4.0", "../../0.3.0")):
        text = json.dumps({**data, "version": version, "from_version": from_version})
        (tmp_path / f"hello_{version}.upgrade.json").write_text(text)
        shutil.copy(tmp_path / upgrade.archive_name, tmp_path / f"hello_{version}.upgrade.tar.gz")
    out, stderr = output()
    assert LocalStore(tmp_path, out).find("hello", kind="upgrade") == upgrade
    assert warnings_by_file(stderr.getvalue(), str(tmp_path)) == {
        "hello_0.3.0.upgrade.json": "from_version",
        "hello_0.4.0.upgrade.json": "from_version",
    }


def test_without_a_sink_the_warnings_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    good = good_release(tmp_path)
    planted = plant(tmp_path, good)
    assert LocalStore(tmp_path).releases("hello") == [good]
    assert len(caplog.records) == len(planted)
    assert all(r.getMessage().startswith(f"skipping {tmp_path}/") for r in caplog.records)
    assert capsys.readouterr().err == ""
