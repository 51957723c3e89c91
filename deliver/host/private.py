"""A deploy host's connection on which everything deliver does stays private to the deploy user.

Every command runs with `umask 077` and every upload is 0600 unless told otherwise, so what
deliver, the hooks and the node create on the host (deliver_to when deliver makes it,
releases/, shared/, archives, the extracted release, the history, the node's logs and the
files it writes) is the deploy user's alone. Other accounts on the host must not read the
Erlang cookie: whoever holds it can connect to the node and run code as the deploy user.

A umask rather than a chmod after each step: it covers every script, hooks and the node too,
also those written later, and there is no moment in which a file is readable by others. It
never widens or narrows what the host's admin made (a deliver_to that already exists keeps its
mode). The extracted release does not depend on it: its directory comes from `mktemp -d`
(0700), and its cookie is made read-only for its owner (unpack.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deliver.errors import CommandFailed
from deliver.transport.erldist import UNREACHABLE, DistError, Stream
from deliver.transport.remote import NodeLink, Progress, Remote, Result, Writable

UMASK = "umask 077"


class PrivateRemote:
    """`remote` (a deploy host's connection) with umask 077 for every command and 0600 for
    every upload that names no mode."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.name, self.host = remote.name, remote.host

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        try:
            return self.remote.run(f"{UMASK}\n{command}", step=step, check=check, stdin=stdin)
        except CommandFailed as failed:  # the error names the command as its caller wrote it
            raise replace(failed, command=command) from None

    def feed(
        self,
        command: str,
        source: Path,
        *,
        head: bytes = b"",
        step: str | None = None,
        progress: Progress | None = None,
    ) -> Result:
        try:
            return self.remote.feed(
                f"{UMASK}\n{command}", source, head=head, step=step, progress=progress
            )
        except CommandFailed as failed:
            raise replace(failed, command=command) from None

    def upload(
        self,
        source: Path | bytes,
        remote_path: str,
        progress: Progress | None = None,
        *,
        mode: int | None = None,
    ) -> None:
        self.remote.upload(source, remote_path, progress, mode=0o600 if mode is None else mode)

    def download(self, remote_path: str, local: Writable, progress: Progress | None = None) -> None:
        self.remote.download(remote_path, local, progress)

    def open_tcp(self, port: int, timeout: float) -> Stream:
        return _link(self.remote).open_tcp(port, timeout)

    def run_private(self, command: str) -> Result:
        return _link(self.remote).run_private(f"{UMASK}\n{command}")

    def note(self, text: str) -> None:
        if isinstance(self.remote, NodeLink):
            self.remote.note(text)

    def close(self) -> None:
        self.remote.close()


def _link(remote: Remote) -> NodeLink:
    """The connection's way to a node's distribution (host/dist.py), where it has one."""
    if not isinstance(remote, NodeLink):
        raise DistError(UNREACHABLE, "this connection cannot open TCP channels")
    return remote
