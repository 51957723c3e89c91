"""This machine as a Remote, without SSH: `build.host: localhost` for CI pipelines that build
where they run (and deploy hosts named `localhost`).

Commands run through `/bin/sh -c` as the current user, with this process's environment, so a
build behaves as it would over SSH on a host with the same HOME.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from deliver.config import HostSpec
from deliver.errors import CommandFailed, DeliverError
from deliver.shell import tail
from deliver.transport.erldist import UNREACHABLE, DistError
from deliver.transport.remote import (
    CHUNK,
    OutputSink,
    Progress,
    Result,
    Writable,
    open_source,
)


class LocalRemote:
    def __init__(
        self,
        host: HostSpec,
        sink: OutputSink | None = None,
        *,
        verbose: bool = False,
        debug: bool = False,
    ) -> None:
        self.host, self.name = host, host.name
        self.sink, self.verbose, self.debug = sink, verbose, debug
        self._notes: set[str] = set()

    def open(self) -> LocalRemote:
        return self

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        """Run `command` with /bin/sh, `stdin` on its standard input then EOF; with check, a
        non-zero exit raises CommandFailed."""
        stdin_writer = None if stdin is None else (lambda pipe: _feed(pipe, stdin))
        return self._shell(command, stdin_writer, check, step)

    def feed(
        self,
        command: str,
        source: Path,
        *,
        head: bytes = b"",
        step: str | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """Run `command` with `head` and then the file `source` on its standard input."""
        with open_source(source) as data:
            return self._shell(
                command, lambda pipe: _feed_file(pipe, head, data, progress), True, step
            )

    def _shell(
        self,
        command: str,
        write_stdin: Callable[[IO[bytes]], None] | None,
        check: bool,
        step: str | None,
    ) -> Result:
        """`command` under /bin/sh, its stdin written by `write_stdin` (None: no stdin) while
        both output pipes are drained at once: any one of them could block."""
        if self.sink and self.debug:
            self.sink.remote_command(self.name, command)
        with subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL if write_stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            stdout: list[str] = []
            stderr: list[str] = []
            threads = [threading.Thread(target=self._drain, args=(process.stderr, stderr))]
            if write_stdin is not None and process.stdin is not None:
                threads.append(threading.Thread(target=write_stdin, args=(process.stdin,)))
            for thread in threads:
                thread.start()
            self._drain(process.stdout, stdout)
            for thread in threads:
                thread.join()
            outcome = Result("".join(stdout), "".join(stderr), process.wait())
        if check and not outcome.ok:
            raise CommandFailed(self.name, command, outcome.exit_status, tail(outcome.output), step)
        return outcome

    def run_private(self, command: str) -> Result:
        """`run` without check, whose output (it holds a secret) never reaches --verbose."""
        verbose, self.verbose = self.verbose, False
        try:
            return self.run(command, check=False)
        finally:
            self.verbose = verbose

    def open_tcp(self, port: int, timeout: float) -> socket.socket:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as error:
            why = error.strerror or str(error)
            raise DistError(UNREACHABLE, f"cannot reach port {port}: {why}") from None

    def note(self, text: str) -> None:
        if self.sink and self.verbose and text not in self._notes:
            self._notes.add(text)
            self.sink.remote_output(self.name, text)

    def upload(
        self,
        source: Path | bytes,
        remote_path: str,
        progress: Progress | None = None,
        *,
        mode: int | None = None,
    ) -> None:
        """Copy a file or bytes to `remote_path` (`~/` is this user's home)."""
        target = Path(remote_path).expanduser()
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode or 0o666)
            if mode is not None:  # an existing file keeps its mode through O_CREAT
                os.fchmod(descriptor, mode)
            with os.fdopen(descriptor, "wb") as file:
                if isinstance(source, bytes):
                    file.write(source)
                    if progress:
                        progress(len(source))
                else:
                    with source.open("rb") as data:
                        while chunk := data.read(CHUNK):
                            file.write(chunk)
                            if progress:
                                progress(len(chunk))
        except OSError as error:
            raise DeliverError(f"cannot write {target}: {error.strerror}") from None

    def download(self, remote_path: str, local: Writable, progress: Progress | None = None) -> None:
        try:
            with Path(remote_path).expanduser().open("rb") as data:
                while chunk := data.read(CHUNK):
                    local.write(chunk)
                    if progress:
                        progress(len(chunk))
        except OSError as error:
            raise DeliverError(f"cannot read {remote_path}: {error.strerror}") from None

    def close(self) -> None:
        pass

    def _drain(self, stream: IO[bytes], into: list[str]) -> None:
        # what `text=True` would do, which stdin's bytes rule out: universal newlines
        with io.TextIOWrapper(stream, errors="replace") as lines:
            for line in lines:
                into.append(line)
                if self.sink and self.verbose:
                    self.sink.remote_output(self.name, line.rstrip("\n"))


def _feed(pipe: IO[bytes], data: bytes | None) -> None:
    """Write `data`, then EOF; a command that ended without reading it is not an error."""
    try:
        with pipe:
            pipe.write(data or b"")
    except BrokenPipeError:
        pass


def _feed_file(pipe: IO[bytes], head: bytes, data: IO[bytes], progress: Progress | None) -> None:
    """`head`, then the file, then EOF; a command that ended without reading it all is not an
    error here (its exit status says why)."""
    try:
        with pipe:
            pipe.write(head)
            while chunk := data.read(CHUNK):
                pipe.write(chunk)
                if progress:
                    progress(len(chunk))
    except BrokenPipeError:
        pass
