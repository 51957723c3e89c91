"""The Remote seam: what the core needs from a machine (run a shell command, send and fetch
files), implemented over SSH (ssh.py) and on this machine without SSH (local.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from deliver.config import HostSpec
from deliver.errors import DeliverError
from deliver.transport.erldist import Stream

Progress = Callable[[int], None]
CHUNK = 1 << 20


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_status: int

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Remote(Protocol):
    """What the core needs from a machine: run a shell command, send and fetch files."""

    name: str
    host: HostSpec

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        """Run `command`; `stdin` (small: it is sent before any output is read) is what the
        command reads on its standard input, then EOF. Secrets travel there, never in
        `command`, which is a process's argv on the machine for every user to see in `ps`."""
        ...

    def feed(
        self,
        command: str,
        source: Path,
        *,
        head: bytes = b"",
        step: str | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """Run `command` with `head` (small: a secret's bytes, say) and then the file `source`
        streamed on its standard input, then EOF: one channel, one pass over the bytes.
        `progress` counts the bytes of `source` sent. A command that stops reading and exits
        keeps its own exit status (the transfer just ends); non-zero raises CommandFailed."""
        ...

    def upload(
        self,
        source: Path | bytes,
        remote_path: str,
        progress: Progress | None = None,
        *,
        mode: int | None = None,
    ) -> None: ...

    def download(
        self, remote_path: str, local: Writable, progress: Progress | None = None
    ) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class NodeLink(Protocol):
    """What asking a node over its Erlang distribution needs from a machine, beside Remote:
    a TCP stream to a port of the machine's loopback (where a node bound to 127.0.0.1 listens
    too), a command whose output holds a secret, and a note for --verbose."""

    def open_tcp(self, port: int, timeout: float) -> Stream:
        """A stream to 127.0.0.1:`port` as the machine sees it; erldist.DistError
        (UNREACHABLE) when nothing listens there or the connection may not be opened."""
        ...

    def run_private(self, command: str) -> Result:
        """Run `command` like Remote.run without check; its output is never shown (with
        --verbose either): it holds a secret."""
        ...

    def note(self, text: str) -> None:
        """Say `text` once for this machine, with --verbose only."""
        ...


class OutputSink(Protocol):
    """Where a remote command's output goes while it runs (--verbose), line by line, and the
    warnings of what runs below the commands (a store skipping a manifest it refused)."""

    def remote_output(self, host: str, text: str) -> None: ...

    def remote_command(self, host: str, command: str) -> None: ...

    def warning(self, text: str) -> None: ...


def open_source(source: Path) -> BinaryIO:
    """A local file to send, opened for reading; DeliverError naming it when it cannot be."""
    try:
        return source.open("rb")
    except OSError as error:
        raise DeliverError(f"cannot read {source}: {error.strerror}") from None
