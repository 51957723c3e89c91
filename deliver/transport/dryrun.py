"""`--dry-run`'s Remote: the same seam as SSH, with nothing that changes a host getting through.

A DryRunRemote wraps a real connection. A command run under one of the `read_only` steps (the
probes that only read: the host's releases, its deploy lock) goes to the host; every other
command, upload and download is recorded, not run, and answers as a command that printed
nothing and succeeded. So the code that would change a host can be given a DryRunRemote to
learn the exact commands it would send (`--debug` prints them), and nothing changes anywhere.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from deliver.config import HostSpec
from deliver.transport.remote import OutputSink, Progress, Remote, Result, Writable


@dataclass(frozen=True)
class Recorded:
    """A command (or transfer) a dry run did not send: what, and under which step."""

    step: str
    command: str
    #: what a stream would have sent on stdin, said (never its bytes)
    stdin: str = ""


class DryRunRemote:
    """`remote`, letting through only the commands of the `read_only` steps."""

    def __init__(self, remote: Remote, read_only: Set[str], sink: OutputSink | None = None) -> None:
        self.remote, self.read_only, self.sink = remote, read_only, sink
        self.name: str = remote.name
        self.host: HostSpec = remote.host
        self.recorded: list[Recorded] = []

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        if step is not None and step in self.read_only:
            return self.remote.run(command, step=step, check=check, stdin=stdin)
        self._record(step or "command", command)
        return Result("", "", 0)

    def feed(
        self,
        command: str,
        source: Path,
        *,
        head: bytes = b"",
        step: str | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """Never let through: what reads a stream writes what it reads somewhere."""
        size = source.stat().st_size if source.exists() else 0
        self._record(step or "feed", command, f"{source}, {size} bytes")
        return Result("", "", 0)

    def upload(
        self,
        source: Path | bytes,
        remote_path: str,
        progress: Progress | None = None,
        *,
        mode: int | None = None,
    ) -> None:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        what = "bytes" if isinstance(source, bytes) else str(source)
        self._record("upload", f"upload {what} ({size} bytes) to {remote_path}")

    def download(self, remote_path: str, local: Writable, progress: Progress | None = None) -> None:
        self._record("download", f"download {remote_path}")

    def close(self) -> None:
        self.remote.close()

    def _record(self, step: str, command: str, stdin: str = "") -> None:
        self.recorded.append(Recorded(step, command, stdin))
        if self.sink is not None:
            fed = f"\n(stdin: {stdin})" if stdin else ""
            self.sink.remote_command(self.name, f"(not run: {step}) {command}{fed}")
