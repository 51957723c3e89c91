"""What the benchmarks deploy: the sample app's repository, a tiny release for the scale rows,
and .deliver files naming the first N sandbox targets."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from deliver.release import Release, now
from deliver.release_store import LocalStore
from deliver.sandbox import Sandbox, SandboxHost
from deliver.transport.remote import Writable

REPO = Path(__file__).resolve().parent.parent
HELLO = REPO / "examples" / "hello"
APP = "hello"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
#: The file the incremental build rows change, one line at a time.
CHANGED_FILE = Path("lib/hello/endpoint.ex")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


def make_app_repo(directory: Path) -> Path:
    """A git repository holding the sample app `hello` 0.1.0, as the tests build it."""
    directory.mkdir(parents=True)
    for name in ("mix.exs", ".formatter.exs", ".gitignore", "config", "lib"):
        source = HELLO / name
        if source.is_dir():
            shutil.copytree(source, directory / name)
        else:
            shutil.copy(source, directory / name)
    with (directory / ".gitignore").open("a") as ignore:
        ignore.write("/.deliver-releases/\n/.deliver*.yml\n")
    git(directory, "init", "-q", "-b", "main")
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "hello 0.1.0")
    return directory


def commit_one_line_change(repo: Path, serial: int) -> str:
    """Change one line of one source file and commit it; returns the new commit."""
    path = repo / CHANGED_FILE
    lines = path.read_text().splitlines()
    marker = "# bench change "
    lines = [line for line in lines if not line.startswith(marker)]
    lines.insert(1, f"{marker}{serial}")
    path.write_text("\n".join(lines) + "\n")
    git(repo, "commit", "-q", "-am", f"bench change {serial}")
    return git(repo, "rev-parse", "HEAD")


def deliver_config(
    sandbox: Sandbox, hosts: Sequence[SandboxHost], deliver_to: str, store: Path
) -> str:
    """A .deliver that builds on the sandbox's build host and deploys to `hosts`."""
    entries = "".join(
        f'      - host: {h.name}\n        env: {{PORT: "{h.app_port}"}}\n' for h in hosts
    )
    return (
        f"app: {APP}\n"
        f"build:\n  host: {sandbox.build_host.name}\n  at: ~/build/{APP}\n"
        f"environments:\n  bench:\n    deliver_to: {deliver_to}\n    hosts:\n{entries}"
        f"ssh:\n  config: {sandbox.ssh_config}\n  known_hosts: {sandbox.known_hosts}\n"
        f"release_store: {store}\n"
    )


def make_tiny_release(store: Path, version: str = "0.0.1") -> Release:
    """A small release (a start script and a few KB) for the scale rows, put in `store`."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        files = {
            f"bin/{APP}": b"#!/bin/sh\necho tiny\n",
            "releases/start_erl.data": f"13.0 {version}\n".encode(),
            f"lib/{APP}-{version}/ebin/{APP}.app": os.urandom(4096),
        }
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    data = archive.getvalue()
    release = Release(
        app=APP,
        version=version,
        commit="0" * 40,
        branch=None,
        tool="mix",
        built_at=now(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )

    def write(file: Writable) -> None:
        file.write(data)

    return LocalStore(store).add(release, write)
