"""One SSH connection as a Remote: `SshRemote`, opened by connect.py (ssh_config, jump hosts,
strict host keys) once and reused by every step of a command on that host.

Every command and transfer is one exec channel on that connection: a command's stdout and
stderr are read with poll() as they arrive, files stream through `cat`. (invoke's runner, which
fabric uses, spends three threads and 10 ms sleeps per command; SFTP adds a request/response
protocol on top of the same channel.)
"""

from __future__ import annotations

import codecs
import io
import logging
import select
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from deliver.config import HostSpec, SshSettings
from deliver.errors import CommandFailed, ConnectionFailed
from deliver.shell import quote_path, tail
from deliver.transport.connect import Connection, SshFiles, connect, reason
from deliver.transport.erldist import UNREACHABLE, DistError
from deliver.transport.remote import (
    CHUNK,
    OutputSink,
    Progress,
    Result,
    Writable,
    open_source,
)

if TYPE_CHECKING:
    import paramiko


#: Uploads are read and sent 64 KiB at a time: paramiko's sendall copies the unsent rest of
#: its argument after every 32 KiB packet, so 1 MiB pieces meant 16 MiB of copying per MiB
#: sent (measured on 100 MiB: 0.43 s of client CPU and 184 MiB/s; 64 KiB: 0.18 s, 336 MiB/s).
UPLOAD_CHUNK = 64 << 10

# paramiko logs a dropped link ("Socket exception: Connection reset by peer") from its reader
# thread; without a handler, Python prints that raw line on stderr, beside our own error that
# names the host. Our errors say it; the raw line goes nowhere.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class SshRemote:
    """One SSH connection to `host`, shared by every command run on it."""

    def __init__(
        self,
        host: HostSpec,
        settings: SshSettings,
        sink: OutputSink | None = None,
        *,
        verbose: bool = False,
        debug: bool = False,
        files: SshFiles | None = None,
    ) -> None:
        self.host, self.name, self.settings = host, host.name, settings
        self.sink, self.verbose, self.debug = sink, verbose, debug
        self._files = files
        self._connection: Connection | None = None
        self._notes: set[str] = set()

    def open(self) -> SshRemote:
        """Connect and authenticate; raises ConnectionFailed / HostKeyError with the reason."""
        self._connection = connect(
            self.host, self.settings, self._files or SshFiles.load(self.settings)
        )
        if self.sink and self.debug:
            self.sink.remote_command(self.name, f"# connected, cipher {self.cipher}")
        return self

    @property
    def cipher(self) -> str | None:
        """The cipher negotiated for data we send (None before open)."""
        return self._connection.transport.local_cipher if self._connection else None

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        """Run `command` in the login shell, `stdin` on its standard input then EOF; with
        check, a non-zero exit raises CommandFailed."""
        return self._run(command, step, check, stdin, shown=True)

    def run_private(self, command: str) -> Result:
        """`run` without check, whose output (it holds a secret) never reaches --verbose."""
        return self._run(command, None, False, None, shown=False)

    def open_tcp(self, port: int, timeout: float) -> paramiko.Channel:
        """A `direct-tcpip` channel on this connection to 127.0.0.1:`port` of the host: the
        host itself connects, so a port bound to its loopback is reached too."""
        import paramiko

        if self._connection is None or not self._connection.transport.is_active():
            raise ConnectionFailed(self.name, "connection lost")
        try:
            return self._connection.transport.open_channel(
                "direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 0), timeout=timeout
            )
        except (paramiko.ChannelException, paramiko.SSHException, OSError, EOFError) as error:
            # nothing listens there (sshd says "Connect failed"), or forwarding is off
            why = error.text if isinstance(error, paramiko.ChannelException) else reason(error)
            raise DistError(UNREACHABLE, f"cannot reach port {port} on the host: {why}") from None

    def note(self, text: str) -> None:
        if self.sink and self.verbose and text not in self._notes:
            self._notes.add(text)
            self.sink.remote_output(self.name, text)

    def _run(
        self, command: str, step: str | None, check: bool, stdin: bytes | None, *, shown: bool
    ) -> Result:
        channel = self._exec(command)
        streams = (
            (_LineStream(self.sink, self.name), _LineStream(self.sink, self.name))
            if self.sink and self.verbose and shown
            else (None, None)
        )
        try:
            _send_stdin(channel, stdin or b"")
            stdout, stderr, status = _collect(channel, *streams)
        except (OSError, EOFError) as error:
            raise ConnectionFailed(self.name, f"connection lost: {reason(error)}") from None
        finally:
            channel.close()
        for stream in streams:
            if stream:
                stream.finish()
        if status == -1:  # paramiko's "no exit status": the connection went away
            raise ConnectionFailed(self.name, "connection lost")
        outcome = Result(stdout, stderr, status)
        if check and not outcome.ok:
            raise CommandFailed(self.name, command, outcome.exit_status, tail(outcome.output), step)
        return outcome

    def feed(
        self,
        command: str,
        source: Path,
        *,
        head: bytes = b"",
        step: str | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """Run `command` with `head` and then the file `source` on its standard input (one
        exec channel: the bytes go straight into the command, no file in between); a
        non-zero exit raises CommandFailed."""
        data = open_source(source)
        channel = self._exec(command)
        try:
            _send_file(channel, head, data, progress)
            stdout, stderr, status = _collect(channel, None, None)
        except (OSError, EOFError) as error:
            raise ConnectionFailed(self.name, f"upload interrupted: {reason(error)}") from None
        finally:
            channel.close()
            data.close()
        if status == -1:
            raise ConnectionFailed(self.name, "upload interrupted: connection lost")
        outcome = Result(stdout, stderr, status)
        if self.sink and self.verbose and outcome.output:
            for line in outcome.output.splitlines():
                self.sink.remote_output(self.name, line)
        if not outcome.ok:
            raise CommandFailed(self.name, command, status, tail(outcome.output), step)
        return outcome

    def upload(
        self,
        source: Path | bytes,
        remote_path: str,
        progress: Progress | None = None,
        *,
        mode: int | None = None,
    ) -> None:
        """Stream a file or bytes into `remote_path` through one exec channel (`cat >`).

        With `mode`, the file is created with a umask that never lets it be wider than that.
        """
        path = quote_path(remote_path)
        command = f"cat > {path}"
        if mode is not None:
            command = f"(umask {0o777 & ~mode:03o} && cat > {path}) && chmod {mode:o} {path}"
        channel = self._exec(command)
        name = source.name if isinstance(source, Path) else remote_path
        try:
            with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as data:
                while chunk := data.read(UPLOAD_CHUNK):
                    channel.sendall(chunk)
                    if progress:
                        progress(len(chunk))
            channel.shutdown_write()
        except (OSError, EOFError) as error:
            # the command may have ended early (no such directory, disk full): say why
            if not channel.exit_status_ready():
                channel.close()
                raise ConnectionFailed(self.name, f"upload interrupted: {reason(error)}") from None
        try:
            status = channel.recv_exit_status()
            errors = channel.recv_stderr(65536).decode(errors="replace")
        finally:
            channel.close()
        if status == -1:
            raise ConnectionFailed(self.name, "upload interrupted: connection lost")
        if status != 0:
            raise CommandFailed(self.name, command, status, errors, f"upload of {name}")

    def download(self, remote_path: str, local: Writable, progress: Progress | None = None) -> None:
        """Stream `remote_path` into the open file `local` through one exec channel (`cat`)."""
        command = f"cat {quote_path(remote_path)}"
        channel = self._exec(command)
        try:
            while chunk := channel.recv(CHUNK):
                local.write(chunk)
                if progress:
                    progress(len(chunk))
            status = channel.recv_exit_status()
            errors = channel.recv_stderr(65536).decode(errors="replace")
        except (OSError, EOFError) as error:
            raise ConnectionFailed(self.name, f"download interrupted: {reason(error)}") from None
        finally:
            channel.close()
        if status != 0:
            raise CommandFailed(self.name, command, status, errors, f"download of {remote_path}")

    @property
    def client(self) -> paramiko.SSHClient:
        """The open, authenticated paramiko client of this connection, for what needs more
        than run/upload/download (an interactive terminal, users' fabric tasks)."""
        if self._connection is None or not self._connection.transport.is_active():
            raise ConnectionFailed(self.name, "connection lost")
        return self._connection.client

    def close(self) -> None:
        if self._connection:
            self._connection.close()

    def _exec(self, command: str) -> paramiko.Channel:
        if self._connection is None or not self._connection.transport.is_active():
            raise ConnectionFailed(self.name, "connection lost")
        transport = self._connection.transport
        if self.sink and self.debug:
            self.sink.remote_command(self.name, command)
        import paramiko

        try:
            channel = transport.open_session()
            channel.exec_command(command)
        except (OSError, EOFError, paramiko.SSHException) as error:
            # the link can drop (or the server refuse a channel) after is_active() said yes;
            # an EOFError escaping here would reach click, which reports it as Ctrl-C
            raise ConnectionFailed(
                self.name, f"cannot open an SSH channel: {reason(error)}"
            ) from None
        return channel


def _send_stdin(channel: paramiko.Channel, data: bytes) -> None:
    """Send `data`, then EOF (a command that reads stdin gets EOF, not a hang). A command
    that ended before reading it keeps its own exit status: that is not a lost connection."""
    try:
        if data:
            channel.sendall(data)
        channel.shutdown_write()
    except OSError:
        if not channel.exit_status_ready():
            raise


def _send_file(
    channel: paramiko.Channel, head: bytes, data: BinaryIO, progress: Progress | None
) -> None:
    """`head`, then the file, then EOF. When the command ends before reading it all (it
    refused the archive, the disk is full), sending stops there: its exit status says why."""
    try:
        if head:
            channel.sendall(head)
        while chunk := data.read(UPLOAD_CHUNK):
            channel.sendall(chunk)
            if progress:
                progress(len(chunk))
        channel.shutdown_write()
    except OSError:
        if not channel.exit_status_ready():
            raise


def _collect(
    channel: paramiko.Channel, out: _LineStream | None, err: _LineStream | None
) -> tuple[str, str, int]:
    """Read stdout and stderr as they come (neither can fill the window and stall the other)
    until both end; returns them decoded, with the exit status."""
    stdout, stderr = bytearray(), bytearray()
    channel.settimeout(0.0)
    poller = select.poll()  # not select(): it fails on descriptors above 1023 (many hosts)
    poller.register(channel.fileno(), select.POLLIN)
    out_open = err_open = True
    while out_open or err_open:
        poller.poll()
        out_open = out_open and _drain(channel.recv, stdout, out)
        err_open = err_open and _drain(channel.recv_stderr, stderr, err)
    status = channel.recv_exit_status()
    return stdout.decode(errors="replace"), stderr.decode(errors="replace"), status


def _drain(read: Callable[[int], bytes], into: bytearray, stream: _LineStream | None) -> bool:
    """Take what has arrived; False once the stream has ended."""
    while True:
        try:
            data = read(CHUNK)
        except TimeoutError:  # nothing more for now
            return True
        if not data:
            return False
        into += data
        if stream:
            stream.write(data)


class _LineStream:
    """Forwards complete lines of one output stream to the OutputSink as they arrive."""

    def __init__(self, sink: OutputSink, host: str) -> None:
        self.sink, self.host, self.buffer = sink, host, ""
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> None:
        self.buffer += self.decoder.decode(data)
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.sink.remote_output(self.host, line)

    def finish(self) -> None:
        self.buffer += self.decoder.decode(b"", final=True)
        if self.buffer:
            self.sink.remote_output(self.host, self.buffer)
            self.buffer = ""


def ssh_client_of(remote: object) -> paramiko.SSHClient | None:
    """The paramiko client under `remote`, also through wrappers that keep the Remote they
    wrap as `.remote` (host/private.py); None for a host reached without SSH."""
    while not isinstance(remote, SshRemote):
        remote = getattr(remote, "remote", None)
        if remote is None:
            return None
    return remote.client
