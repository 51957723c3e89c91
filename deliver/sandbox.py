"""A sandbox of real SSH hosts on loopback: one `sshd` per simulated machine.

`start_sandbox(root, targets=N)` runs N+1 OpenSSH servers on 127.0.0.1 as the current user: a
build host named `build` and targets `web1..webN`, each with its own host key, port and home
directory, key auth only. It writes `ssh_config`, `known_hosts` and a client key into `root`,
so a .deliver pointing at them works with strict host key checking.

With `store=True` there is one more host, `store`, for a release store over SSH, and every
other host is set up as a real machine would be to log in to it: its own key (authorized on
the store), a `Host store` entry in its ~/.ssh/config and the store's host key in its
~/.ssh/known_hosts. ssh reads ~/.ssh from the passwd entry, not from $HOME, so on these hosts
`ssh` and `scp` are small wrappers that read the host's own ~/.ssh/config.

All hosts share one loopback and one /tmp, so sshd gives each session its own `HOME`, `TMPDIR`
and `ERL_EPMD_PORT` (Erlang nodes would otherwise meet on epmd's port 4369). Every process a
session starts inherits `DELIVER_SANDBOX_HOST`, which is how `stop_sandbox` finds the nodes
and epmd daemons left behind, besides the sshd PIDs it recorded.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from deliver.errors import DeliverError

SSHD = "/usr/sbin/sshd"
STATE_FILE = "sandbox.json"
STORE_HOST = "store"
#: sshd's own default PATH for a session, behind the sandbox's ssh wrappers.
_SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxError(DeliverError):
    pass


@dataclass(frozen=True)
class SandboxHost:
    name: str
    port: int
    epmd_port: int
    app_port: int
    home: str

    @property
    def address(self) -> str:
        return self.name


@dataclass(frozen=True)
class Sandbox:
    root: Path
    user: str
    hosts: tuple[SandboxHost, ...]

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def identity(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def build_host(self) -> SandboxHost:
        return self.hosts[0]

    @property
    def targets(self) -> tuple[SandboxHost, ...]:
        return tuple(h for h in self.hosts[1:] if h.name != STORE_HOST)

    @property
    def store_host(self) -> SandboxHost | None:
        return next((h for h in self.hosts if h.name == STORE_HOST), None)

    def host(self, name: str) -> SandboxHost:
        return next(h for h in self.hosts if h.name == name)

    def deliver_config(
        self,
        app: str,
        environment: str = "production",
        deliver_to: str = "~/app",
        release_store: str | None = None,
        *,
        staging: int = 0,
        health_check: bool = False,
    ) -> str:
        """A .deliver (YAML) that builds on `build` and deploys to the targets: the first
        `staging` of them form a `staging` environment, the others `environment`; with
        `health_check`, each restart also asks the app over HTTP on the host's PORT."""
        if not 0 <= staging < len(self.targets):
            raise DeliverError(
                f"staging takes 0 to {len(self.targets) - 1} of the {len(self.targets)} targets "
                "(production needs one): start more with deliver sandbox up --targets N"
            )
        groups = [("staging", self.targets[:staging]), (environment, self.targets[staging:])]
        environments = "".join(
            f"  {name}:\n    deliver_to: {deliver_to}\n    hosts:\n"
            + "".join(
                f'      - host: {h.name}\n        env: {{PORT: "{h.app_port}"}}\n' for h in hosts
            )
            for name, hosts in groups
            if hosts
        )
        return (
            f"app: {app}\n"
            f"build:\n  host: {self.build_host.name}\n  at: ~/build/{app}\n"
            f"environments:\n{environments}"
            f"ssh:\n  config: {self.ssh_config}\n  known_hosts: {self.known_hosts}\n"
            + (f"release_store: {release_store}\n" if release_store else "")
            + (HEALTH_AND_MIGRATIONS if health_check else "")
        )


#: What `sandbox config --health-check` adds: the sample apps answer HTTP on / at PORT.
HEALTH_AND_MIGRATIONS = """\
health_check:
  url: http://127.0.0.1:{PORT}/
# migrations:              # an app with a database: its <App>.Release tasks, run on the primary
#   up: MyApp.Release.migrate()
"""


def start_sandbox(
    root: Path,
    targets: int = 2,
    *,
    store: bool = False,
    login_env: Mapping[str, str] | None = None,
) -> Sandbox:
    """Start a build host and `targets` target hosts (and with `store`, a store host the
    others can log in to) under `root`; replaces a running one. `login_env` is set in every
    session as a login profile would set it (tests of what deliver does with it)."""
    root = root.resolve()
    if load_sandbox(root) is not None:
        stop_sandbox(root)
    root.mkdir(parents=True, exist_ok=True)
    _ensure_privilege_separation_dir()
    identity = root / "id_ed25519"
    if not identity.exists():
        _keygen(identity, "deliver-sandbox-client")
    (root / "authorized_keys").write_text(identity.with_suffix(".pub").read_text())
    names = ["build", *(f"web{i}" for i in range(1, targets + 1))] + ([STORE_HOST] if store else [])
    ports = _free_ports(3 * len(names))
    hosts = tuple(
        SandboxHost(
            name,
            ports[3 * i],
            ports[3 * i + 1],
            ports[3 * i + 2],
            str(root / "hosts" / name / "home"),
        )
        for i, name in enumerate(names)
    )
    sandbox = Sandbox(root, getpass.getuser(), hosts)
    (root / STATE_FILE).write_text(
        json.dumps({"user": sandbox.user, "hosts": [asdict(h) for h in hosts]}, indent=2)
    )
    known_hosts = [_start_sshd(sandbox, host, login_env or {}) for host in hosts]
    sandbox.known_hosts.write_text("".join(known_hosts))
    if store:
        _trust_store_host(sandbox, known_hosts[-1])
    sandbox.ssh_config.write_text("".join(_ssh_config_entry(sandbox, h) for h in hosts))
    for host in hosts:
        _wait_for_port(host)
    return sandbox


def load_sandbox(root: Path) -> Sandbox | None:
    state = root.resolve() / STATE_FILE
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    return Sandbox(root.resolve(), data["user"], tuple(SandboxHost(**h) for h in data["hosts"]))


def stop_sandbox(root: Path) -> int:
    """Stop every sshd and every process started through it; returns how many were signalled."""
    root = root.resolve()
    pids = {int(p.read_text()) for p in root.glob("hosts/*/sshd.pid") if p.read_text().strip()}
    for pid in pids:
        _kill(pid, signal.SIGTERM)
    # twice: a session may start a process while the first round is being signalled
    for _ in range(2):
        started = _processes_with_env("DELIVER_SANDBOX_HOST", str(root / "hosts")) - pids
        for pid in started:
            _kill(pid, signal.SIGTERM)
        pids |= started
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        # the sandbox may not reap daemons: a zombie is gone enough
        _kill(pid, signal.SIGKILL)
    for pid_file in root.glob("hosts/*/sshd.pid"):
        pid_file.unlink()
    (root / STATE_FILE).unlink(missing_ok=True)
    return len(pids)


def _start_sshd(sandbox: Sandbox, host: SandboxHost, login_env: Mapping[str, str]) -> str:
    directory = sandbox.root / "hosts" / host.name
    home = Path(host.home)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key, f"deliver-sandbox-{host.name}")
    config = directory / "sshd_config"
    # with a store host, every other host finds the ssh wrappers first (see _trust_store_host)
    path = f"PATH={directory / 'bin'}:{_SESSION_PATH} " if sandbox.store_host else ""
    extra = "".join(f' "{name}={value}"' for name, value in login_env.items())
    config.write_text(
        f"Port {host.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\nAuthorizedKeysFile {sandbox.root / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        f"AllowUsers {sandbox.user}\nMaxSessions 64\nMaxStartups 100:30:200\n"
        # as on a real machine (Debian's own sshd_config): fabric's c.put and c.get use it
        "Subsystem sftp internal-sftp\n"
        f"SetEnv {path}HOME={home} TMPDIR={home / 'tmp'} ERL_EPMD_PORT={host.epmd_port} "
        f"LANG=C.UTF-8 DELIVER_SANDBOX_HOST={directory}{extra}\n"
    )
    started = subprocess.run(
        [SSHD, "-f", str(config), "-E", str(directory / "sshd.log")], capture_output=True, text=True
    )
    if started.returncode != 0:
        raise SandboxError(f"sshd for {host.name} did not start: {started.stderr.strip()}")
    key_type, key = host_key.with_suffix(".pub").read_text().split()[:2]
    return f"[127.0.0.1]:{host.port} {key_type} {key}\n"


def _trust_store_host(sandbox: Sandbox, store_known_host: str) -> None:
    """Set up every other host to log in to the store host on its own, as a real machine is:
    its own key authorized there, an ssh_config entry and the store's host key."""
    store = sandbox.store_host
    assert store is not None
    for host in sandbox.hosts:
        if host is store:
            continue
        ssh_dir = Path(host.home) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        key = ssh_dir / "id_ed25519"
        if not key.exists():
            _keygen(key, f"deliver-sandbox-{host.name}")
        with (sandbox.root / "authorized_keys").open("a") as authorized:
            authorized.write(key.with_suffix(".pub").read_text())
        (ssh_dir / "known_hosts").write_text(store_known_host)
        (ssh_dir / "config").write_text(
            f"Host {STORE_HOST}\n  HostName 127.0.0.1\n  Port {store.port}\n"
            f"  User {sandbox.user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {ssh_dir / 'known_hosts'}\n"
        )
        wrappers = sandbox.root / "hosts" / host.name / "bin"
        wrappers.mkdir(exist_ok=True)
        for program in ("ssh", "scp"):
            wrapper = wrappers / program
            wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/{program} -F "$HOME/.ssh/config" "$@"\n')
            wrapper.chmod(0o755)


def _ssh_config_entry(sandbox: Sandbox, host: SandboxHost) -> str:
    return (
        f"Host {host.name}\n  HostName 127.0.0.1\n  Port {host.port}\n  User {sandbox.user}\n"
        f"  IdentityFile {sandbox.identity}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {sandbox.known_hosts}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n\n"
    )


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _ensure_privilege_separation_dir() -> None:
    # sshd started by root insists on its privsep directory, which only a booted system creates
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_for_port(host: SandboxHost, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", host.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"sshd for {host.name} is not listening on port {host.port}"
                ) from None
            time.sleep(0.05)


def _processes_with_env(name: str, prefix: str) -> set[int]:
    wanted = f"{name}={prefix}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(wanted) for item in environ.split(b"\0")):
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
