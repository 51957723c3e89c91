"""What a deploy leaves on real sandbox hosts when the archive was tampered with, and the modes
of what a real build and deploy make: nothing outside deliver_to changes (a checksum listing
of each host's home, before and after), and nothing another account could read holds the
Erlang cookie.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from deliver.config import RuntimeLinks
from deliver.release_store import LocalStore
from deliver.sandbox import Sandbox
from tests.commands.test_deploy import on_host
from tests.conftest import BuiltApp, edit_config, run_cli
from tests.host.test_planted_links import Snapshot, archive, entry, snapshot
from tests.host.test_scripts import RELEASE_FILES, make_release

pytestmark = pytest.mark.slow

HOSTS = ("web1", "web2")


def deliver_to_of(config: Path) -> str:
    return config.read_text().split("deliver_to: ")[1].split()[0]


def home_listing(sandbox: Sandbox, host: str) -> Snapshot:
    """Everything in the host's home but its TMPDIR and the release roots of deploys (this
    test's, which it checks itself, and earlier tests', whose nodes may still write logs)."""
    home = Path(sandbox.host(host).home)
    skipped = {"tmp", *(p.name for p in home.iterdir() if (p / "releases").is_dir())}
    return {
        name: what for name, what in snapshot(home).items() if name.split("/")[0] not in skipped
    }


def plant_victim(sandbox: Sandbox) -> None:
    """~/victim on every target: what the tampered archives aim at."""
    for host in HOSTS:
        victim = Path(sandbox.host(host).home) / "victim"
        (victim / "log").mkdir(parents=True, exist_ok=True)
        (victim / "log" / "keep").write_text("keep me\n")
        (victim / "authorized_keys").write_text("ssh-ed25519 AAAA owner\n")


def store_of(tmp_path: Path, version: str, entries: list[tarfile.TarInfo]) -> Path:
    """A local store holding one release whose archive carries `entries`."""
    files = {name.replace("0.1.0", version): body for name, body in RELEASE_FILES.items()}
    data = archive(entries, files)
    path = tmp_path / "tampered.tar.gz"
    path.write_bytes(data)
    store = LocalStore(tmp_path / "store")
    store.put(make_release(version, sha256=hashlib.sha256(data).hexdigest(), size=len(data)), path)
    return store.path


#: Relative to the fresh (and the final) release directory, releases/<v>/: ~/victim.
VICTIM = "../../../victim"


@pytest.mark.parametrize(
    ("entries", "links", "refusal"),
    [
        (
            [entry(".deliver-revision", tarfile.SYMTYPE, f"{VICTIM}/authorized_keys")],
            RuntimeLinks(),
            "refusing the archive: it holds .deliver-revision (symbolic link), a name deliver "
            "writes",
        ),
        (
            [entry("tmp", tarfile.SYMTYPE, VICTIM)],
            RuntimeLinks(linked_dirs=("tmp/log",)),
            "linked_dirs: tmp/log: tmp is a symlink in the archive: refusing it",
        ),
        (
            [entry("lib/pipe", tarfile.FIFOTYPE)],
            RuntimeLinks(),
            "refusing the archive: it holds lib/pipe (fifo), no release does",
        ),
        (
            [entry("bin/console", tarfile.CHRTYPE)],
            RuntimeLinks(),
            "refusing the archive: it holds bin/console (character special file), no release does",
        ),
    ],
    ids=["symlinked-mark", "symlinked-linked-dir-parent", "fifo", "device"],
)
def test_a_tampered_archive_is_refused_and_nothing_outside_deliver_to_changes(
    sandbox: Sandbox,
    deployment: Path,
    tmp_path: Path,
    entries: list[tarfile.TarInfo],
    links: RuntimeLinks,
    refusal: str,
    request: pytest.FixtureRequest,
) -> None:
    if entries[0].type == tarfile.CHRTYPE and os.geteuid() != 0:
        pytest.skip("only root's tar creates a device node (anyone else's fails to extract)")
    plant_victim(sandbox)
    store = store_of(tmp_path, "6.6.6", entries)

    def tampered(data: dict[str, Any]) -> None:
        data["release_store"] = str(store)
        data["linked_dirs"] = list(links.linked_dirs)
        # a root of its own per case (the fixture's name is cut before the case's id)
        data["environments"]["production"]["deliver_to"] = f"~/tampered-{request.node.callspec.id}"

    edit_config(deployment, tampered)
    deliver_to = deliver_to_of(deployment)
    before = {host: home_listing(sandbox, host) for host in HOSTS}

    result = run_cli("--config", deployment, "deploy", "release", "production")
    assert result.exit_code == 1, result.output
    assert "prepare failed on 2 host(s): web1, web2" in result.stderr
    assert refusal in result.stderr
    for host in HOSTS:
        assert home_listing(sandbox, host) == before[host], host
        # streamed into extraction: a refused archive is not kept either, nor the fresh directory
        assert on_host(sandbox, host, f"ls -A {deliver_to}/releases") == ""
        assert on_host(sandbox, host, f"readlink {deliver_to}/current || echo none") == "none"


def modes_under(sandbox: Sandbox, host: str, path: str) -> str:
    """`find` of everything under `path` on `host` that group or others may touch (not
    symlinks, whose mode means nothing)."""
    return on_host(sandbox, host, f"find {path} ! -type l -perm /077 -printf '%m %p\\n'")


def test_modes_after_a_real_build_and_deploy(
    sandbox: Sandbox, built_app: BuiltApp, deployment: Path
) -> None:
    result = run_cli("--config", deployment, "deploy", "release", "production", "--start-deploy")
    assert result.exit_code == 0, result.output  # the node starts: the deploy user owns it all
    deliver_to = deliver_to_of(deployment)
    for host in HOSTS:
        found = on_host(
            sandbox,
            host,
            f"cd {deliver_to} && stat -c '%a %n' . releases releases/0.1.0 "
            "releases/0.1.0/releases/COOKIE releases/0.1.0.tar.gz deliver.env deliver.history",
        )
        assert found.splitlines() == [
            "700 .",
            "700 releases",
            "700 releases/0.1.0",
            "400 releases/0.1.0/releases/COOKIE",
            "600 releases/0.1.0.tar.gz",
            "600 deliver.env",
            "600 deliver.history",
        ]
        # the node's own files too (its logs, its run_erl pipes): no one else's to read
        assert modes_under(sandbox, host, deliver_to) == ""
    ping = run_cli("--config", deployment, "ping", "production")
    assert ping.exit_code == 0, ping.output

    # the build host's tree and its archive, and the local store the archive went to
    assert on_host(sandbox, "build", "cd ~/build && stat -c %a hello") == "700"
    packed = on_host(sandbox, "build", "cd ~/build && stat -c '%a %n' hello/_build/deliver/*.gz")
    assert packed == "600 hello/_build/deliver/hello_0.1.0.release.tar.gz"
    assert stat.S_IMODE(built_app.store.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in built_app.store.iterdir()} == {0o600}
