"""Opening one SSH connection the way `ssh` would, with paramiko and nothing in between.

The ssh_config decides where a name leads (HostName, Port, User, IdentityFile,
IdentitiesOnly, ProxyJump, ProxyCommand); host keys are checked strictly against deliver's
known_hosts, for jump hosts too: an unknown, changed or `@revoked` key is refused with a hint,
never trusted on first use (known_hosts.py reads that file, markers included). Both files
are parsed once per run (`SshFiles`) and shared read-only by every connection of the run.

Why paramiko directly rather than fabric: fabric opened ProxyJump hosts with paramiko's
AutoAddPolicy, trusting their keys on first use; and deliver used only fabric's ssh_config
resolution and jump hosts (which are this module), while a fabric Connection and its Config
cost about 1 ms of CPU per host (100 hosts: 0.8-1.0 s of client CPU to connect instead of
1.2-1.4 s, together with parsing known_hosts once; bench/RESULTS.md).
"""

from __future__ import annotations

import getpass
import hashlib
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deliver.config import HostSpec, SshSettings
from deliver.errors import ConnectionFailed, HostKeyError
from deliver.transport import sshlib
from deliver.transport.known_hosts import KnownHosts

if TYPE_CHECKING:
    import paramiko

#: Proposed first, in this order, when the server offers them: AES-GCM encrypts and
#: authenticates in one pass, where paramiko's default AES-CTR + HMAC-SHA2 makes two.
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
KEEPALIVE_SECONDS = 15


@dataclass(frozen=True)
class SshFiles:
    """The client files every connection reads, parsed once per run: parsing a 100-line
    known_hosts for each of 100 hosts cost 0.39 s of CPU, once 4 ms."""

    config: paramiko.SSHConfig
    known_hosts: KnownHosts

    @classmethod
    def load(cls, settings: SshSettings) -> SshFiles:
        paramiko = sshlib.load()  # the first import of paramiko in a run: without invoke

        config = (
            paramiko.SSHConfig.from_path(str(settings.config_file))
            if settings.config_file is not None
            else paramiko.SSHConfig()
        )
        return cls(config, KnownHosts.load(settings.known_hosts))

    def lookup(self, name: str, host: str) -> dict[str, Any]:
        """ssh_config's options for `host`; `name` is who asked, for the error message."""
        try:
            return dict(self.config.lookup(host))
        except ImportError:  # paramiko runs `Match exec` through invoke, an optional package
            raise ConnectionFailed(
                name,
                "the ssh_config uses `Match exec`, which needs the Python package invoke",
                hint="pip install invoke, or use a .deliver ssh.config without `Match exec`",
            ) from None


@dataclass(frozen=True)
class Endpoint:
    """Where a host name leads once the ssh_config has been applied."""

    name: str  # as the user wrote it: used in every message
    hostname: str
    port: int
    user: str
    identities: tuple[str, ...] = ()
    identities_only: bool = False
    proxy_jump: tuple[str, ...] = ()
    proxy_command: str | None = None

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts files use for this endpoint."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @classmethod
    def resolve(cls, host: HostSpec, files: SshFiles, name: str | None = None) -> Endpoint:
        options = files.lookup(name or host.name, host.hostname)
        jump = options.get("proxyjump", "none")
        return cls(
            name=name or host.name,
            hostname=options.get("hostname", host.hostname),
            port=host.port or int(options.get("port", 22)),
            user=host.user or options.get("user") or getpass.getuser(),
            identities=tuple(options.get("identityfile", ())),
            identities_only=options.get("identitiesonly", "no").lower() == "yes",
            proxy_jump=() if jump.lower() == "none" else tuple(jump.split(",")),
            proxy_command=options.get("proxycommand"),
        )


@dataclass
class Connection:
    """An authenticated SSH connection, and the jump host connections it goes through."""

    client: paramiko.SSHClient
    jumps: list[paramiko.SSHClient] = field(default_factory=list)
    proxy: subprocess.Popen[bytes] | None = None

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        assert transport is not None, "an open Connection has a transport"
        return transport

    def close(self) -> None:
        _close(self.client, self.jumps, self.proxy)


def connect(host: HostSpec, settings: SshSettings, files: SshFiles) -> Connection:
    """Connect and authenticate to `host`, through its jump hosts if any.

    Raises HostKeyError (unknown or changed key, naming the host that offered it) and
    ConnectionFailed (refused, timed out, authentication failed) with the reason.
    """
    endpoint = Endpoint.resolve(host, files)
    jumps: list[paramiko.SSHClient] = []
    proxy: subprocess.Popen[bytes] | None = None
    try:
        sock: Any = None
        for hop in endpoint.proxy_jump:
            hop_endpoint = Endpoint.resolve(_jump_host(endpoint, hop), files, f"{hop} (jump)")
            jumps.append(_open(hop_endpoint, settings, files, sock))
            sock = _tunnel(jumps[-1], hop_endpoint, endpoint)
        if sock is None and endpoint.proxy_command:
            sock, proxy = _proxy_command(endpoint.proxy_command)
        client = _open(endpoint, settings, files, sock)
    except BaseException:
        _close(None, jumps, proxy)
        raise
    return Connection(client, jumps, proxy)


def _close(
    client: paramiko.SSHClient | None,
    jumps: list[paramiko.SSHClient],
    proxy: subprocess.Popen[bytes] | None,
) -> None:
    for each in [client, *reversed(jumps)]:
        if each is not None:
            each.close()
    if proxy is not None:  # its end of the socket is closed: it exits, or is made to
        try:
            proxy.wait(5)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()


def _proxy_command(command: str) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Run ProxyCommand as `ssh` does (`sh -c`), talking SSH over its stdin and stdout: the
    command gets one end of a socket pair as both, paramiko the other end."""
    ours, theirs = socket.socketpair()
    with theirs:
        process = subprocess.Popen(
            command, shell=True, stdin=theirs.fileno(), stdout=theirs.fileno()
        )
    return ours, process


def _jump_host(endpoint: Endpoint, hop: str) -> HostSpec:
    try:
        return HostSpec.parse(hop.strip())
    except ValueError:
        raise ConnectionFailed(
            endpoint.name, f'ProxyJump: expected "[user@]host[:port]", got {hop!r}'
        ) from None


def _open(
    endpoint: Endpoint, settings: SshSettings, files: SshFiles, sock: Any
) -> paramiko.SSHClient:
    import paramiko

    client = paramiko.SSHClient()
    known = files.known_hosts
    client.set_missing_host_key_policy(_RefuseUnknownHostKey(endpoint.name, settings, known))
    for key_type, key in known.trusted(endpoint.known_hosts_name).items():
        client.get_host_keys().add(endpoint.known_hosts_name, key_type, key)
    identities = [str(settings.identity)] if settings.identity else list(endpoint.identities)
    with _reported(endpoint.name, settings, known):
        client.connect(
            endpoint.hostname,
            endpoint.port,
            endpoint.user,
            key_filename=identities or None,
            look_for_keys=settings.identity is None and not endpoint.identities_only,
            allow_agent=not endpoint.identities_only,
            timeout=max(1.0, settings.connect_timeout),
            banner_timeout=settings.connect_timeout,
            auth_timeout=settings.connect_timeout,
            sock=sock,
            transport_factory=_transport,
        )
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(KEEPALIVE_SECONDS)
    return client


def _tunnel(jump: paramiko.SSHClient, via: Endpoint, to: Endpoint) -> paramiko.Channel:
    transport = jump.get_transport()
    assert transport is not None
    with _reported(via.name, None):
        return transport.open_channel("direct-tcpip", (to.hostname, to.port), ("127.0.0.1", 0))


#: Seconds paramiko's reader thread sleeps on an idle connection before it looks again.
IDLE_WAKEUP = 2.0


def _transport(sock: Any, disabled_algorithms: Any = None) -> paramiko.Transport:
    """A paramiko Transport that proposes FAST_CIPHERS first; the server still chooses among
    everything paramiko supports, so a server without AES-GCM connects as before."""
    import paramiko

    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        # every SSH packet paramiko writes is a whole message: waiting to coalesce small ones
        # (Nagle) meets the server's delayed ACK and cost 40 ms per command opened
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    # paramiko's reader thread wakes up at every socket timeout (0.1 s) to see whether it
    # should stop: with 500 connections idle between phases that was 5000 Python wakeups a
    # second, most of deliver's CPU (bench/RESULTS.md, scale). A closed transport's thread
    # still ends at once (paramiko marks it closed); this only makes idle ones sleep longer.
    if hasattr(transport.sock, "settimeout"):
        transport.sock.settimeout(IDLE_WAKEUP)
    options = transport.get_security_options()
    fast = tuple(c for c in FAST_CIPHERS if c in options.ciphers)
    options.ciphers = fast + tuple(c for c in options.ciphers if c not in fast)
    return transport


@contextmanager
def _reported(
    name: str, settings: SshSettings | None, known: KnownHosts | None = None
) -> Iterator[None]:
    """Turn paramiko's and the socket layer's exceptions into ConnectionFailed/HostKeyError."""
    import paramiko

    try:
        yield
    except HostKeyError:
        raise
    except paramiko.BadHostKeyException as error:
        known_hosts = settings.known_hosts if settings else "your known_hosts"
        if known is not None and known.is_revoked(error.hostname, error.key):
            raise revoked(name, error.key, known_hosts) from None
        raise HostKeyError(
            name,
            f"the host key has CHANGED (offered {fingerprint(error.key)}); "
            "this can mean a man-in-the-middle attack",
            hint=f"if the host was reinstalled, remove its old entry from "
            f"{known_hosts} (ssh-keygen -R) and add the new key",
        ) from None
    except paramiko.AuthenticationException:
        raise ConnectionFailed(
            name, "authentication failed", hint="check ssh.identity and the user name"
        ) from None
    except TimeoutError:
        timeout = f" after {settings.connect_timeout:g}s" if settings else ""
        raise ConnectionFailed(name, f"timed out{timeout}") from None
    except (OSError, paramiko.SSHException, EOFError) as error:
        raise ConnectionFailed(name, reason(error)) from None


class _RefuseUnknownHostKey:
    """paramiko policy: refuse an unknown host key and say how to trust it deliberately; a
    revoked key, or a host known only by a certificate authority, is refused saying so."""

    def __init__(self, name: str, settings: SshSettings, known: KnownHosts) -> None:
        self.name, self.settings, self.known = name, settings, known

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        if self.known.is_revoked(hostname, key):
            raise revoked(self.name, key, self.settings.known_hosts)
        if self.known.authority_only(hostname):
            raise HostKeyError(
                self.name,
                "host certificates (@cert-authority) are not supported: "
                "add the host's own key to known_hosts",
            )
        raise HostKeyError(
            self.name,
            f"unknown host key {key.get_name()} {fingerprint(key)} "
            f"(not in {self.settings.known_hosts})",
            hint=f"verify the fingerprint with the host's owner, then add it: "
            f"ssh-keyscan {_keyscan_target(hostname)} >> {self.settings.known_hosts}",
        )


def revoked(name: str, key: paramiko.PKey, known_hosts: object) -> HostKeyError:
    return HostKeyError(
        name,
        f"the host key {key.get_name()} {fingerprint(key)} is REVOKED "
        f"(@revoked in {known_hosts}): this can mean a stolen key or a man-in-the-middle",
        hint="the host needs a new host key; add it to known_hosts once its owner confirmed "
        "the fingerprint",
    )


def _keyscan_target(hostname: str) -> str:
    # paramiko names non-default ports as "[host]:port"
    if hostname.startswith("[") and "]:" in hostname:
        host, port = hostname[1:].split("]:")
        return f"-p {port} {host}"
    return hostname


def fingerprint(key: paramiko.PKey) -> str:
    import base64

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def reason(error: BaseException) -> str:
    """A short lower-case reason for a connection-level exception."""
    import paramiko

    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused (is sshd running and the port right?)"
    if isinstance(error, socket.gaierror):
        # the usual cause is a typo, or an alias kept in another ssh config than the one used
        return "unknown host name (no DNS name, and no Host entry of the ssh config names it)"
    if isinstance(error, paramiko.ChannelException):
        return f"the jump host could not open a tunnel ({error.text})"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[0].lower() + text[1:] if text else text
