"""Private by default (host/private.py): on a deploy host reached through `connected()`, what
deliver creates is the deploy user's alone; the release's cookie is read-only for its owner.
Run on this machine's shell (`localhost`, no sshd), through the CLI as a user would.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from deliver.config import HostSpec
from deliver.errors import CommandFailed
from deliver.host.private import PrivateRemote
from deliver.release_store.local import LocalStore
from deliver.transport.local import LocalRemote
from tests.conftest import run_cli
from tests.host.test_scripts import APP as HELLO
from tests.host.test_scripts import RELEASE_FILES, make_release, new_root, tarball


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes(root: Path) -> dict[str, int]:
    """The mode of everything under `root` but symlinks (whose mode means nothing)."""
    return {
        str(path.relative_to(root)): mode(path)
        for path in sorted(root.rglob("*"))
        if not path.is_symlink()
    }


def store_with_cookie(tmp_path: Path) -> LocalStore:
    files = {**RELEASE_FILES, "releases/COOKIE": b"the-cookie"}
    archive = tmp_path / "built.tar.gz"
    archive.write_bytes(tarball(files))
    data = archive.read_bytes()
    store = LocalStore(tmp_path / "store")
    store.put(make_release(sha256=hashlib.sha256(data).hexdigest(), size=len(data)), archive)
    return store


def config_file(tmp_path: Path, store: LocalStore, deliver_to: Path) -> Path:
    config = tmp_path / ".deliver"
    config.write_text(
        f"app: {HELLO}\n"
        f"release_store: {store.path}\n"
        "linked_dirs: [uploads]\n"
        "environments:\n"
        "  production:\n"
        f"    deliver_to: {deliver_to}\n"
        "    hosts:\n"
        "      - host: localhost\n"
        '        env: {PORT: "4000", SECRET: "s3cr3t"}\n'
    )
    return config


def test_a_deploy_leaves_nothing_readable_by_other_users(tmp_path: Path) -> None:
    store = store_with_cookie(tmp_path)
    root = new_root(tmp_path)
    done = run_cli(
        "--config", config_file(tmp_path, store, root), "deploy", "release", "production"
    )
    assert done.exit_code == 0, done.output

    found = modes(root)
    assert found["releases/0.1.0/releases/COOKIE"] == 0o400
    assert found["releases/0.1.0.tar.gz"] == 0o600
    assert found["deliver.env"] == 0o600
    assert found["deliver.history"] == 0o600
    for name in ("", "releases", "releases/0.1.0", "shared", "shared/uploads"):
        assert mode(root / name) == 0o700, name
    readable = {name: m for name, m in found.items() if m & 0o077}
    assert readable == {}  # nothing deliver made is open to group or others
    assert mode(root / "releases" / "0.1.0" / "bin" / "hello") == 0o700  # still executable


def test_an_existing_deliver_to_keeps_its_mode_and_an_old_releases_dir_is_closed(
    tmp_path: Path,
) -> None:
    store = store_with_cookie(tmp_path)
    root = new_root(tmp_path)
    (root / "releases" / "0.0.9" / "releases").mkdir(parents=True)  # from an older deliver
    (root / "releases" / "0.0.9" / "releases" / "COOKIE").write_text("the-cookie")
    for path in (root, root / "releases", root / "releases" / "0.0.9"):
        os.chmod(path, 0o755)

    done = run_cli(
        "--config", config_file(tmp_path, store, root), "deploy", "release", "production"
    )
    assert done.exit_code == 0, done.output
    assert mode(root) == 0o755  # the admin's directory: not deliver's to change
    assert mode(root / "releases") == 0o700  # deliver's own: the old cookie is out of reach


def test_commands_run_with_umask_077_and_uploads_are_0600(tmp_path: Path) -> None:
    remote = PrivateRemote(LocalRemote(HostSpec.parse("localhost")))
    assert remote.run("umask").stdout.strip() == "0077"
    remote.run(f"mkdir {tmp_path}/made && touch {tmp_path}/made/file")
    assert (mode(tmp_path / "made"), mode(tmp_path / "made" / "file")) == (0o700, 0o600)
    remote.upload(b"x", str(tmp_path / "sent"))
    remote.upload(b"x", str(tmp_path / "script"), mode=0o700)
    assert (mode(tmp_path / "sent"), mode(tmp_path / "script")) == (0o600, 0o700)


def test_a_failed_command_is_named_as_its_caller_wrote_it() -> None:
    remote = PrivateRemote(LocalRemote(HostSpec.parse("localhost")))
    with pytest.raises(CommandFailed) as failed:
        remote.run("echo nope; exit 3")
    assert failed.value.command == "echo nope; exit 3"
    assert str(failed.value) == "`echo nope; exit 3` failed on localhost (exit status 3)\n    nope"
