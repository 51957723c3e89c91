"""deliver never writes or deletes through a link it did not create: the host-side scripts run
for real with /bin/sh (local transport, as in test_scripts.py) against a `deliver_to` where
links, fifos and files were planted at the names deliver uses, and against archives built with
Python's tarfile that carry links, devices and fifos.

Every test keeps a directory `outside` (what a link could reach: another user's files, the
deploy user's ~/.ssh) and checks that it is byte for byte, mode for mode, as it was.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
from pathlib import Path

import pytest

from deliver.config import RuntimeLinks
from deliver.errors import CommandFailed
from deliver.host.layout import (
    read_host_releases,
    record,
    replace_file,
    replace_link,
    switch_current,
)
from deliver.host.links import link_release
from deliver.host.node import start_node
from deliver.host.prune import prune_host
from deliver.host.release_handler import NodeCheck, relink
from deliver.host.unpack import Preflight, extract, preflight, upload
from deliver.release import Release
from deliver.shell import quote
from tests.host.test_scripts import (
    RELEASE_FILES,
    add_release,
    environment,
    history,
    link,
    listing,
    local,
    make_release,
    new_root,
    stored,
    write_history,
)

Snapshot = dict[str, tuple[str, int, str]]


def snapshot(directory: Path) -> Snapshot:
    """Every entry under `directory`: its kind, mode and content (or link target)."""
    found: Snapshot = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            what = ("link", 0, os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            what = (
                "file",
                stat.S_IMODE(info.st_mode),
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
        else:
            what = ("other", stat.S_IMODE(info.st_mode), "")
        found[str(path.relative_to(directory))] = what
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """What a planted link points at: a file and a directory that are not deliver's."""
    directory = tmp_path / "outside"
    (directory / "dir").mkdir(parents=True)
    (directory / "dir" / "keep").write_text("keep me\n")
    (directory / "authorized_keys").write_text("ssh-ed25519 AAAA owner\n")
    os.chmod(directory / "authorized_keys", 0o600)
    return directory


def plant(path: Path, outside: Path, kind: str) -> None:
    """A link to a file or a directory outside, a fifo, or a directory with a file, at `path`
    (a final name, which may hold a link but never a directory: only where kind allows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file link":
        path.symlink_to(outside / "authorized_keys")
    elif kind == "dir link":
        path.symlink_to(outside / "dir")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "hello").write_text("#!/bin/sh\necho planted\n")


def plant_final(path: Path, outside: Path, kind: str) -> None:
    """A final name (deliver.env, deliver.history): a directory there is an error, not a plant."""
    if kind != "directory":
        plant(path, outside, kind)


#: fifos would make the old scripts hang (a shell blocks opening one for writing); a directory
#: at a fixed temp name took the new link inside it, and was then renamed over the real name
KINDS = ["file link", "dir link", "fifo", "directory"]


# --- the two helpers every script uses -----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_replace_file_and_link_never_follow_what_is_at_the_name(
    tmp_path: Path, outside: Path, kind: str
) -> None:
    before = snapshot(outside)
    work = tmp_path / "work"
    plant_final(work / "file", outside, kind)
    plant(work / ".file.XXXXXX", outside, kind)  # a name that looks like the template
    plant_final(work / "link", outside, kind)
    directory = quote(str(work))

    local().run(replace_file(directory, "file", "echo new"))
    local().run(replace_link(directory, "link", quote("target")))
    assert (work / "file").read_text() == "new\n"
    assert not (work / "file").is_symlink()
    assert stat.S_IMODE((work / "file").stat().st_mode) == 0o600  # mktemp's mode
    assert os.readlink(work / "link") == "target"
    assert listing(work) == [".file.XXXXXX", "file", "link"]  # no temp name left
    assert snapshot(outside) == before


def test_replace_file_removes_its_temp_file_when_the_content_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("old\n")
    failed = local().run(
        replace_file(quote(str(tmp_path)), "file", "echo half; false"), check=False
    )
    assert not failed.ok
    assert (tmp_path / "file").read_text() == "old\n"
    assert listing(tmp_path) == ["file"]


def test_a_directory_at_the_name_is_never_written_into(tmp_path: Path) -> None:
    (tmp_path / "current" / "keep").mkdir(parents=True)
    failed = local().run(replace_link(quote(str(tmp_path)), "current", "x"), check=False)
    assert not failed.ok and "cannot overwrite directory" in failed.stderr
    assert listing(tmp_path / "current") == ["keep"]
    assert listing(tmp_path) == ["current"]


# --- the old fixed temp names, planted -----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_switch_and_record_with_planted_names(tmp_path: Path, outside: Path, kind: str) -> None:
    before = snapshot(outside)
    root = new_root(tmp_path)
    add_release(root, "0.1.0")
    plant(root / ".current.new", outside, kind)
    plant_final(root / "deliver.history", outside, kind)  # not deliver's: removed, not written

    switch_current(local(), str(root), "0.1.0")
    assert os.readlink(root / "current") == "releases/0.1.0"
    assert history(root) == ["deployed 0.1.0"]
    assert not (root / "deliver.history").is_symlink()
    local().run(record(str(root), "started", "0.1.0"))
    assert history(root) == ["deployed 0.1.0", "started 0.1.0"]
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", KINDS)
def test_prune_with_a_planted_history_temp_name(tmp_path: Path, outside: Path, kind: str) -> None:
    before = snapshot(outside)
    root = new_root(tmp_path)
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        add_release(root, version)
    link(root / "current", "releases/0.3.0")
    write_history(root, "started 0.1.0", "started 0.2.0", "started 0.3.0")
    plant(root / ".deliver.history.new", outside, kind)

    assert prune_host(local(), str(root), keep=1) == ["0.1.0"]
    assert history(root) == ["started 0.1.0", "started 0.2.0", "started 0.3.0"]
    assert sorted(os.listdir(root)) == [
        ".deliver.history.new",
        "current",
        "deliver.history",
        "releases",
    ]
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", KINDS)
def test_upload_with_planted_part_and_sha256_names(
    tmp_path: Path, outside: Path, kind: str
) -> None:
    before = snapshot(outside)
    store, release, data = stored(tmp_path)
    root = new_root(tmp_path)
    check = preflight(local(), environment(root), release)
    plant(root / "releases" / ".0.1.0.tar.gz.part", outside, kind)
    plant_final(root / "releases" / "0.1.0.tar.gz.sha256", outside, kind)

    upload(local(), check.root, release, store, None)
    archive = root / "releases" / "0.1.0.tar.gz"
    assert archive.read_bytes() == data
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    sha256 = root / "releases" / "0.1.0.tar.gz.sha256"
    assert not sha256.is_symlink() and sha256.read_text() == f"{release.sha256}\n"
    assert listing(root / "releases") == [
        ".0.1.0.tar.gz.part",
        "0.1.0.tar.gz",
        "0.1.0.tar.gz.sha256",
    ]
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", KINDS)
def test_extract_with_planted_fresh_and_env_names(tmp_path: Path, outside: Path, kind: str) -> None:
    before = snapshot(outside)
    store, release, _ = stored(tmp_path)
    root = new_root(tmp_path)
    check = preflight(local(), environment(root), release)
    upload(local(), check.root, release, store, None)
    plant(root / "releases" / ".0.1.0.new", outside, kind)
    plant(root / ".deliver.env.new", outside, kind)
    plant_final(root / "deliver.env", outside, kind)

    extract(local(), check, release, "export PORT=4000\n")
    assert (root / "releases" / "0.1.0" / ".deliver-sha256").read_text() == f"{release.sha256}\n"
    kept = root / "releases" / "0.1.0" / ".deliver-env"
    assert kept.read_text() == "export PORT=4000\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    switch_current(local(), check.root, "0.1.0")  # the kept env becomes deliver.env
    env_file = root / "deliver.env"
    assert not env_file.is_symlink() and env_file.read_text() == "export PORT=4000\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "releases" / "0.1.0").stat().st_mode) == 0o700  # mktemp -d
    assert sorted(os.listdir(root)) == [
        ".deliver.env.new",
        "current",
        "deliver.env",
        "deliver.history",
        "releases",
    ]
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", KINDS)
def test_relink_with_planted_alias_and_current_names(
    tmp_path: Path, outside: Path, kind: str
) -> None:
    before = snapshot(outside)
    root = new_root(tmp_path)
    add_release(root, "0.1.0", boots="0.2.0")
    link(root / "current", "releases/0.1.0")
    plant(root / "releases" / ".alias.new", outside, kind)
    plant(root / ".current.new", outside, kind)
    check = NodeCheck(
        "localhost", str(root), str(root / "releases" / "0.1.0"), "mix", "0.1.0", "4242", False
    )

    relink(local(), check, "0.2.0")
    assert os.readlink(root / "releases" / "0.2.0") == "0.1.0"
    assert os.readlink(root / "current") == "releases/0.2.0"
    assert snapshot(outside) == before


#: A start script that answers like mix's: `daemon` returns, `rpc` prints an OS pid.
FAKE_START_SCRIPT = b"""#!/bin/sh
case "$1" in
  daemon|eval) exit 0 ;;
  rpc) echo 4242 ;;
esac
"""


@pytest.mark.parametrize("kind", KINDS)
def test_start_with_a_planted_running_temp_name(tmp_path: Path, outside: Path, kind: str) -> None:
    before = snapshot(outside)
    root = new_root(tmp_path)
    directory = add_release(root, "0.1.0")
    (directory / "bin").mkdir()
    (directory / "bin" / "hello").write_bytes(FAKE_START_SCRIPT)
    os.chmod(directory / "bin" / "hello", 0o755)
    link(root / "current", "releases/0.1.0")
    plant(root / ".running.new", outside, kind)
    state = read_host_releases(local(), str(root), "hello")

    status = start_node(local(), state, "hello", timeout=5)
    assert status.detail == "started 0.1.0 (pid 4242)"
    assert os.readlink(root / "running") == "releases/0.1.0"
    assert history(root) == ["started 0.1.0"]
    assert snapshot(outside) == before


# --- archives that carry links, devices and fifos ------------------------------------------


def archive(entries: list[tarfile.TarInfo], files: dict[str, bytes] | None = None) -> bytes:
    """A gzipped tar of a plain release (RELEASE_FILES, or `files`) plus `entries`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in (RELEASE_FILES if files is None else files).items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(content))
        for entry in entries:
            tar.addfile(entry, io.BytesIO(b"x" * entry.size) if entry.isreg() else None)
    return buffer.getvalue()


def entry(
    name: str, kind: bytes = tarfile.REGTYPE, target: str = "", size: int = 0
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, size
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    return info


def staged(root: Path, data: bytes) -> Release:
    """`data` as releases/0.1.0.tar.gz, as upload leaves it."""
    (root / "releases").mkdir(parents=True, exist_ok=True)
    (root / "releases" / "0.1.0.tar.gz").write_bytes(data)
    return make_release(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def refused(tmp_path: Path, outside: Path, data: bytes, links: RuntimeLinks | None = None) -> str:
    """Extract `data`; it must be refused with nothing left behind and nothing outside changed.
    Returns what the host said."""
    before = snapshot(outside)
    root = new_root(tmp_path)
    release = staged(root, data)
    with pytest.raises(CommandFailed) as failed:
        extract(local(), Preflight(str(root), None, True, False), release, "", links)
    assert failed.value.step == "extracting"
    assert listing(root / "releases") == ["0.1.0.tar.gz"]  # the fresh directory went
    assert listing(root) == ["releases"]  # nor an env file
    assert snapshot(outside) == before
    return failed.value.output_tail


@pytest.mark.parametrize("mark", [".deliver-revision", ".deliver-tool", ".deliver-sha256"])
def test_an_archive_with_a_symlinked_mark_is_refused(
    tmp_path: Path, outside: Path, mark: str
) -> None:
    data = archive([entry(mark, tarfile.SYMTYPE, str(outside / "authorized_keys"))])
    assert refused(tmp_path, outside, data) == (
        f"refusing the archive: it holds {mark} (symbolic link), a name deliver writes"
    )


@pytest.mark.parametrize(
    ("entries", "what"),
    [
        ([entry(".deliver-revision", size=3)], ".deliver-revision (regular file)"),
        (
            [entry(".deliver-upgrades", tarfile.SYMTYPE, "/tmp")],
            ".deliver-upgrades (symbolic link)",
        ),
        ([entry(".deliver-tool", tarfile.DIRTYPE)], ".deliver-tool (directory)"),
        ([entry(".deliver-sha256", tarfile.FIFOTYPE)], ".deliver-sha256 (fifo)"),
    ],
)
def test_an_archive_holding_any_of_delivers_names_is_refused(
    tmp_path: Path, outside: Path, entries: list[tarfile.TarInfo], what: str
) -> None:
    assert refused(tmp_path, outside, archive(entries)) == (
        f"refusing the archive: it holds {what}, a name deliver writes"
    )


def test_an_archive_with_a_fifo_is_refused(tmp_path: Path, outside: Path) -> None:
    data = archive([entry("tmp/pipe", tarfile.FIFOTYPE)])
    assert refused(tmp_path, outside, data) == (
        "refusing the archive: it holds tmp/pipe (fifo), no release does"
    )


def test_an_archive_with_a_device_is_refused(tmp_path: Path, outside: Path) -> None:
    # root's tar creates the device node, which deliver then refuses; anyone else's tar cannot
    # create it and fails the extraction
    said = refused(tmp_path, outside, archive([entry("bin/console", tarfile.CHRTYPE)]))
    if os.geteuid() == 0:
        assert said == (
            "refusing the archive: it holds bin/console (character special file), no release does"
        )
    else:
        assert said.startswith("extracting the release failed\n")


@pytest.mark.parametrize(
    ("links", "entries", "problem"),
    [
        # a symlinked parent: linking tmp/log would rm -rf outside/dir/log
        (
            RuntimeLinks(linked_dirs=("tmp/log",)),
            [entry("tmp", tarfile.SYMTYPE, "{outside}/dir")],
            "linked_dirs: tmp/log: tmp is a symlink in the archive: refusing it",
        ),
        (
            RuntimeLinks(linked_files=("etc/conf/app.conf",)),
            [entry("etc", tarfile.DIRTYPE), entry("etc/conf", tarfile.SYMTYPE, "{outside}/dir")],
            "linked_files: etc/conf/app.conf: etc/conf is a symlink in the archive: refusing it",
        ),
        # the linked path itself
        (
            RuntimeLinks(linked_dirs=("uploads",)),
            [entry("uploads", tarfile.SYMTYPE, "{outside}/dir")],
            "linked_dirs: uploads: uploads is a symlink in the archive: refusing it",
        ),
        # releases/<version> on the way to a host-local vm.args
        (
            RuntimeLinks(overrides={"vm.args": "~/vm.args"}),
            [entry("releases/0.1.0", tarfile.SYMTYPE, "{outside}/dir")],
            "link.vm_args: releases/0.1.0/vm.args: releases/0.1.0 is a symlink in the archive: "
            "refusing it",
        ),
    ],
)
def test_an_archive_with_a_symlink_on_the_way_to_a_link_is_refused(
    tmp_path: Path,
    outside: Path,
    links: RuntimeLinks,
    entries: list[tarfile.TarInfo],
    problem: str,
) -> None:
    for item in entries:
        item.linkname = item.linkname.format(outside=outside)
    files = {n: b for n, b in RELEASE_FILES.items() if not n.startswith("releases/")}
    assert refused(tmp_path, outside, archive(entries, files), links) == problem


@pytest.mark.parametrize(
    "entries",
    [
        [entry("../escaped", size=1)],  # GNU tar: "Member name contains '..'"
        [entry("lib/../../escaped", size=1)],
        # a link, then a file through it: "Cannot open: Not a directory"
        [entry("out", tarfile.SYMTYPE, "{outside}/dir"), entry("out/planted", size=1)],
        [entry("hard", tarfile.LNKTYPE, "{outside}/authorized_keys")],
    ],
)
def test_gnu_tar_itself_refuses_names_that_leave_the_directory(
    tmp_path: Path, outside: Path, entries: list[tarfile.TarInfo]
) -> None:
    for item in entries:
        item.linkname = item.linkname.format(outside=outside)
    said = refused(tmp_path, outside, archive(entries))
    assert said.startswith("extracting the release failed\n"), said
    assert not (tmp_path / "escaped").exists()


def test_a_symlinked_parent_made_later_is_refused_by_the_link_step(
    tmp_path: Path, outside: Path
) -> None:
    """A hot upgrade adds files to the node's directory after its extraction: linking checks
    the parents again, so a symlinked one never leads rm -rf outside."""
    before = snapshot(outside)
    root = new_root(tmp_path)
    release = add_release(root, "0.1.0")
    link(release / "tmp", str(outside / "dir"))
    (outside / "dir" / "log").mkdir()
    with pytest.raises(CommandFailed) as failed:
        link_release(local(), str(root), "0.1.0", RuntimeLinks(linked_dirs=("tmp/log",)))
    assert failed.value.output_tail == ("linked_dirs: tmp/log: tmp is a symlink in releases/0.1.0")
    assert snapshot(outside) == {**before, "dir/log": ("other", 0o755, "")}


def test_a_real_release_gets_a_private_cookie(tmp_path: Path) -> None:
    files = {
        **RELEASE_FILES,
        "releases/COOKIE": b"secret-cookie",
        "releases/0.1.0/vm.args": b"-setcookie secret-cookie\n",
    }
    root = new_root(tmp_path)
    release = staged(root, archive([], files))
    extract(local(), Preflight(str(root), None, True, False), release, "")
    directory = root / "releases" / "0.1.0"
    assert stat.S_IMODE((directory / "releases" / "COOKIE").stat().st_mode) == 0o400
    assert stat.S_IMODE((directory / "releases" / "0.1.0" / "vm.args").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert re.fullmatch(r"[0-9a-f]{64}\n", (directory / ".deliver-sha256").read_text())
