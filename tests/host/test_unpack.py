"""The streamed prepare phase (unpack.receive) on this machine: the archive goes from stdin
straight into extraction while the host hashes it, in one script with the env file and links.
The refusals of tampered archives are in test_planted_links.py and on real hosts in
tests/commands/test_deploy_security.py."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from deliver.config import RuntimeLinks
from deliver.errors import CommandFailed
from deliver.host.unpack import Preflight, preflight, receive
from deliver.transport.local import LocalRemote
from deliver.transport.remote import Result
from tests.host.test_scripts import (
    RELEASE_FILES,
    add_release,
    environment,
    listing,
    local,
    make_release,
    new_root,
    stored,
    tarball,
)

ENV = "export PORT=4000\nexport SECRET='x y'\n"


class NoFeed(LocalRemote):
    def feed(self, *args: object, **kwargs: object) -> Result:
        raise AssertionError("nothing is sent to a host that has the release")


def test_the_archive_streams_into_extraction_and_is_kept_beside_it(tmp_path: Path) -> None:
    store, release, data = stored(tmp_path)
    root = new_root(tmp_path)
    (root / "shared" / "uploads").mkdir(parents=True)
    check = preflight(local(), environment(root), release)
    assert check == Preflight(str(root), None, False, False)
    sent: list[int] = []

    links = RuntimeLinks(linked_dirs=("uploads",))
    receive(local(), check, release, ENV, links, store.archive(release), sent.append)
    directory = root / "releases" / "0.1.0"
    for name, content in RELEASE_FILES.items():
        assert (directory / name).read_bytes() == content
    assert (directory / ".deliver-sha256").read_text() == f"{release.sha256}\n"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert os.readlink(directory / "uploads") == f"{root}/shared/uploads"  # linked, same script
    # the archive is kept for later deploys of the same release, with its sha256
    assert (root / "releases" / "0.1.0.tar.gz").read_bytes() == data
    assert (root / "releases" / "0.1.0.tar.gz.sha256").read_text() == f"{release.sha256}\n"
    assert listing(root / "releases") == ["0.1.0", "0.1.0.tar.gz", "0.1.0.tar.gz.sha256"]
    # the env file travels with the release (the switch makes it deliver.env)
    assert (directory / ".deliver-env").read_text() == ENV
    assert stat.S_IMODE((directory / ".deliver-env").stat().st_mode) == 0o600
    assert not (root / "deliver.env").exists()
    assert sum(sent) == release.size
    again = preflight(local(), environment(root), release)
    assert again.has_archive and again.has_release


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_a_stream_that_fails_its_hash_leaves_nothing_and_names_both_hashes(
    tmp_path: Path, damage: str
) -> None:
    store, release, data = stored(tmp_path)
    # a valid archive that is not the one the manifest names, and a cut one
    other = tarball({**RELEASE_FILES, "bin/hello": b"#!/bin/sh\necho swapped\n"})
    bad = other if damage == "flipped" else data[: len(data) // 2]
    store.archive(release).write_bytes(bad)
    root = new_root(tmp_path)
    old = add_release(root, "0.0.9")
    (root / "deliver.env").write_text("export OLD=1\n")
    check = preflight(local(), environment(root), release)

    with pytest.raises(CommandFailed) as failed:
        receive(local(), check, release, ENV, RuntimeLinks(), store.archive(release))
    assert failed.value.host == "localhost"
    # a truncated one fails tar first, which drains the rest: the whole stream is hashed
    got = hashlib.sha256(bad).hexdigest()
    assert failed.value.output_tail.startswith(
        f"the archive arrived corrupted (sha256 mismatch: expected {release.sha256}, got {got})"
    )
    # no fresh directory, no archive, the old release and env file untouched
    assert listing(root / "releases") == ["0.0.9"]
    assert listing(old) == [".deliver-sha256", ".deliver-tool"]
    assert (root / "deliver.env").read_text() == "export OLD=1\n"


def test_a_host_that_has_the_release_gets_only_its_env_file(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    directory = add_release(root, "0.1.0")
    (directory / "marker").write_text("kept")
    release = make_release("0.1.0")
    check = preflight(local(), environment(root), release)
    assert check.has_release and not check.has_archive

    receive(NoFeed(local().host), check, release, ENV, RuntimeLinks(), None)
    assert listing(directory) == [".deliver-env", ".deliver-sha256", ".deliver-tool", "marker"]
    assert (directory / ".deliver-env").read_text() == ENV


def test_the_env_file_head_is_read_exactly_whatever_its_bytes(tmp_path: Path) -> None:
    store, release, _ = stored(tmp_path)
    root = new_root(tmp_path)
    check = preflight(local(), environment(root), release)
    # no trailing newline, multibyte characters, and what looks like a gzip header
    env = "export NOTE='caf\u00e9\n\x1f\x8b'"
    receive(local(), check, release, env, RuntimeLinks(), store.archive(release))
    assert (root / "releases" / "0.1.0" / ".deliver-env").read_text() == env
