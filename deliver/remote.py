"""How deliver talks to one machine: the Remote seam and its SSH implementation.

One `SshRemote` is one SSH connection (fabric/paramiko), opened once and reused by every step
of a command on that host. Host keys are checked strictly against the configured known_hosts
file: an unknown or changed key is refused, never trusted on first use.
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deliver.config import HostSpec, SshSettings
from deliver.errors import CommandFailed, ConnectionFailed, HostKeyError
from deliver.shell import quote_path, tail

if TYPE_CHECKING:
    import fabric
    import paramiko

Progress = Callable[[int], None]
CHUNK = 1 << 20

# paramiko logs a dropped link ("Socket exception: Connection reset by peer") from its reader
# thread; without a handler, Python prints that raw line on stderr, beside our own error that
# names the host. Our errors say it; the raw line goes nowhere.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


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

    def run(self, command: str, *, step: str | None = None, check: bool = True) -> Result: ...

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


class OutputSink(Protocol):
    """Where a remote command's output goes while it runs (--verbose), line by line."""

    def remote_output(self, host: str, text: str) -> None: ...

    def remote_command(self, host: str, command: str) -> None: ...


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
        ssh_config: paramiko.SSHConfig | None = None,
    ) -> None:
        self.host, self.name, self.settings = host, host.name, settings
        self.sink, self.verbose, self.debug = sink, verbose, debug
        self._connection = _connection(host, settings, ssh_config)

    def open(self) -> SshRemote:
        """Connect and authenticate; raises ConnectionFailed / HostKeyError with the reason."""
        import paramiko

        client = self._connection.client
        client.set_missing_host_key_policy(_RefuseUnknownHostKey(self.name, self.settings))
        try:
            if self.settings.known_hosts.exists():
                client.load_host_keys(str(self.settings.known_hosts))
            self._connection.open()
        except HostKeyError:
            raise
        except paramiko.BadHostKeyException as error:
            raise HostKeyError(
                self.name,
                f"the host key has CHANGED (offered {_fingerprint(error.key)}); "
                "this can mean a man-in-the-middle attack",
                hint=f"if the host was reinstalled, remove its old entry from "
                f"{self.settings.known_hosts} (ssh-keygen -R) and add the new key",
            ) from None
        except paramiko.AuthenticationException:
            raise ConnectionFailed(
                self.name, "authentication failed", hint="check ssh.identity and the user name"
            ) from None
        except TimeoutError:
            raise ConnectionFailed(
                self.name, f"timed out after {self.settings.connect_timeout:g}s"
            ) from None
        except (OSError, paramiko.SSHException, EOFError) as error:
            raise ConnectionFailed(self.name, _reason(error)) from None
        transport = self._connection.transport
        if transport is not None:
            transport.set_keepalive(15)
        return self

    def run(self, command: str, *, step: str | None = None, check: bool = True) -> Result:
        """Run `command` in the login shell; with check, a non-zero exit raises CommandFailed."""
        if self.sink and self.debug:
            self.sink.remote_command(self.name, command)
        stream = _LineStream(self.sink, self.name) if self.sink and self.verbose else None
        try:
            result = self._connection.run(
                command,
                hide=stream is None,
                warn=True,
                in_stream=False,
                pty=False,
                out_stream=stream,
                err_stream=stream,
            )
        except Exception as error:  # paramiko raises several types for a dropped link
            raise ConnectionFailed(self.name, f"connection lost: {_reason(error)}") from None
        if stream:
            stream.finish()
        outcome = Result(result.stdout, result.stderr, result.exited)
        if check and not outcome.ok:
            raise CommandFailed(self.name, command, outcome.exit_status, tail(outcome.output), step)
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
                while chunk := data.read(CHUNK):
                    channel.sendall(chunk)
                    if progress:
                        progress(len(chunk))
            channel.shutdown_write()
            status = channel.recv_exit_status()
            errors = channel.recv_stderr(65536).decode(errors="replace")
        except (OSError, EOFError) as error:
            raise ConnectionFailed(self.name, f"upload interrupted: {_reason(error)}") from None
        finally:
            channel.close()
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
            raise ConnectionFailed(self.name, f"download interrupted: {_reason(error)}") from None
        finally:
            channel.close()
        if status != 0:
            raise CommandFailed(self.name, command, status, errors, f"download of {remote_path}")

    def close(self) -> None:
        self._connection.close()

    def _exec(self, command: str) -> paramiko.Channel:
        transport = self._connection.transport
        if transport is None or not transport.is_active():
            raise ConnectionFailed(self.name, "connection lost")
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
                self.name, f"cannot open an SSH channel: {_reason(error)}"
            ) from None
        return channel


def load_ssh_config(settings: SshSettings) -> paramiko.SSHConfig:
    """Parse the ssh_config once per run; every connection of the run shares it."""
    import paramiko

    if settings.config_file is None:
        return paramiko.SSHConfig()
    return paramiko.SSHConfig.from_path(str(settings.config_file))


def _connection(
    host: HostSpec, settings: SshSettings, ssh_config: paramiko.SSHConfig | None
) -> fabric.Connection:
    import fabric

    config = fabric.Config(ssh_config=ssh_config or load_ssh_config(settings))
    connect_kwargs: dict[str, Any] = {
        "banner_timeout": settings.connect_timeout,
        "auth_timeout": settings.connect_timeout,
    }
    if settings.identity is not None:
        connect_kwargs.update(key_filename=str(settings.identity), look_for_keys=False)
    return fabric.Connection(
        host.hostname,
        user=host.user,
        port=host.port,
        config=config,
        connect_timeout=int(max(1, settings.connect_timeout)),
        connect_kwargs=connect_kwargs,
    )


class _RefuseUnknownHostKey:
    """paramiko policy: refuse an unknown host key and say how to trust it deliberately."""

    def __init__(self, name: str, settings: SshSettings) -> None:
        self.name, self.settings = name, settings

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(
            self.name,
            f"unknown host key {key.get_name()} {_fingerprint(key)} "
            f"(not in {self.settings.known_hosts})",
            hint=f"verify the fingerprint with the host's owner, then add it: "
            f"ssh-keyscan {_keyscan_target(hostname)} >> {self.settings.known_hosts}",
        )


def _keyscan_target(hostname: str) -> str:
    # paramiko names non-default ports as "[host]:port"
    if hostname.startswith("[") and "]:" in hostname:
        host, port = hostname[1:].split("]:")
        return f"-p {port} {host}"
    return hostname


def _fingerprint(key: paramiko.PKey) -> str:
    import base64

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _reason(error: BaseException) -> str:
    import paramiko

    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused (is sshd running and the port right?)"
    if isinstance(error, socket.gaierror):
        return "unknown host name"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[0].lower() + text[1:] if text else text


class _LineStream:
    """A file-like sink for invoke that forwards complete lines to the OutputSink."""

    def __init__(self, sink: OutputSink, host: str) -> None:
        self.sink, self.host, self.buffer = sink, host, ""

    def write(self, text: str) -> None:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.sink.remote_output(self.host, line)

    def flush(self) -> None:
        """invoke flushes after every chunk; lines are forwarded only when complete."""

    def finish(self) -> None:
        if self.buffer:
            self.sink.remote_output(self.host, self.buffer)
            self.buffer = ""
