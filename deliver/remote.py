"""How deliver talks to one machine: the Remote seam and its SSH implementation.

One `SshRemote` is one SSH connection (fabric/paramiko), opened once and reused by every step
of a command on that host. Host keys are checked strictly against the configured known_hosts
file: an unknown or changed key is refused, never trusted on first use.

Performance (bench/RESULTS.md has the figures): fabric resolves ssh_config and opens the
connection, but commands run on a bare exec channel read with poll(), not through invoke's
runner (threads and 10 ms sleeps per command); AES-GCM is preferred over paramiko's default
AES-CTR + HMAC (one pass over the data instead of two); ssh_config and known_hosts are parsed
once per run (`SshFiles`), not once per host.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import select
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

#: Tried first, in this order, when the server offers them: AES-GCM encrypts and
#: authenticates in one pass, where paramiko's default AES-CTR + HMAC-SHA2 makes two.
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


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
        files: SshFiles | None = None,
    ) -> None:
        self.host, self.name, self.settings = host, host.name, settings
        self.sink, self.verbose, self.debug = sink, verbose, debug
        self._files = files or SshFiles.load(settings)
        self._connection = _connection(host, settings, self._files.config)

    def open(self) -> SshRemote:
        """Connect and authenticate; raises ConnectionFailed / HostKeyError with the reason."""
        import paramiko

        client = self._connection.client
        client.set_missing_host_key_policy(_RefuseUnknownHostKey(self.name, self.settings))
        self._files.trust(client, self._connection.host, self._connection.port)
        try:
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
        if self.sink and self.debug:
            self.sink.remote_command(self.name, f"# connected, cipher {self.cipher}")
        return self

    @property
    def cipher(self) -> str | None:
        """The cipher negotiated for data we send (None before open)."""
        transport = self._connection.transport
        return transport.local_cipher if transport is not None else None

    def run(self, command: str, *, step: str | None = None, check: bool = True) -> Result:
        """Run `command` in the login shell; with check, a non-zero exit raises CommandFailed."""
        channel = self._exec(command)
        streams = (
            (_LineStream(self.sink, self.name), _LineStream(self.sink, self.name))
            if self.sink and self.verbose
            else (None, None)
        )
        try:
            channel.shutdown_write()  # no stdin: a command that reads it gets EOF, not a hang
            stdout, stderr, status = _collect(channel, *streams)
        except (OSError, EOFError) as error:
            raise ConnectionFailed(self.name, f"connection lost: {_reason(error)}") from None
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
        except (OSError, EOFError) as error:
            # the command may have ended early (no such directory, disk full): say why
            if not channel.exit_status_ready():
                channel.close()
                raise ConnectionFailed(self.name, f"upload interrupted: {_reason(error)}") from None
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
        try:
            channel = transport.open_session()
            channel.exec_command(command)
        except Exception as error:  # paramiko raises several types for a dropped link
            raise ConnectionFailed(self.name, f"connection lost: {_reason(error)}") from None
        return channel


@dataclass(frozen=True)
class SshFiles:
    """The client files every connection reads, parsed once per run and shared (read-only) by
    all connections: parsing a 100-line known_hosts for each of 100 hosts cost 0.39 s of CPU."""

    config: paramiko.SSHConfig
    known_hosts: paramiko.HostKeys

    @classmethod
    def load(cls, settings: SshSettings) -> SshFiles:
        import paramiko

        config = (
            paramiko.SSHConfig.from_path(str(settings.config_file))
            if settings.config_file is not None
            else paramiko.SSHConfig()
        )
        known_hosts = paramiko.HostKeys()
        if settings.known_hosts.exists():
            known_hosts.load(str(settings.known_hosts))
        return cls(config, known_hosts)

    def trust(self, client: paramiko.SSHClient, hostname: str, port: int) -> None:
        """Give `client` the known keys of this one host (named as paramiko looks it up)."""
        name = hostname if port == 22 else f"[{hostname}]:{port}"
        for key_type, key in (self.known_hosts.lookup(name) or {}).items():
            client.get_host_keys().add(name, key_type, key)


def _connection(
    host: HostSpec, settings: SshSettings, ssh_config: paramiko.SSHConfig
) -> fabric.Connection:
    import fabric

    config = fabric.Config(ssh_config=ssh_config)
    connect_kwargs: dict[str, Any] = {
        "banner_timeout": settings.connect_timeout,
        "auth_timeout": settings.connect_timeout,
        "transport_factory": _transport,
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


def _transport(sock: Any, disabled_algorithms: Any = None) -> paramiko.Transport:
    """A paramiko Transport that proposes FAST_CIPHERS first; the server still picks from
    everything paramiko supports, so servers without AES-GCM connect as before."""
    import paramiko

    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    options = transport.get_security_options()
    fast = tuple(c for c in FAST_CIPHERS if c in options.ciphers)
    options.ciphers = fast + tuple(c for c in options.ciphers if c not in fast)
    return transport


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
