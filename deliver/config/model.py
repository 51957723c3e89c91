"""The values of a .deliver file: frozen dataclasses every module may import.

They import nothing of deliver's but errors, shell and release; config/load.py builds them.
The grammars the reader and the rest of deliver share (hook points, --auto-version parts) are
config/grammar.py's; what a version may look like is release.py's VERSION, re-exported here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deliver.errors import ConfigError, did_you_mean
from deliver.release import VERSION as VERSION
from deliver.shell import Secret

#: `build.host: localhost` (exactly that) builds on this machine, without SSH.
LOCALHOST = "localhost"
S3_ADDRESSING_STYLES = ("auto", "path", "virtual")

_HOST = re.compile(
    r"^(?:(?P<user>[^@\s:/]+)@)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:.]+\])"
    r"(?::(?P<port>\d{1,5}))?$"
)


#: `node.manager`: who starts and stops the node (host/manager.py).
MANAGERS = ("daemon", "systemd", "command")
#: the placeholders a `node.start|stop|status` command may use
MANAGER_PLACEHOLDERS = ("app", "deliver_to", "release")


@dataclass(frozen=True)
class NodeManager:
    """`node:` of an environment or a host: who starts and stops the node, where it logs.

    `daemon` runs the release's own `bin/<app> daemon` (run_erl); `systemd` drives a unit
    (`unit`, default `<app>`; `user_unit` for `systemctl --user`); `command` runs the user's
    own `start`/`stop`/`status` commands, whose `{app}`,
    `{deliver_to}` and `{release}` are replaced by shell-quoted values. `log_dir` is where
    the node's logs are kept across releases: relative to deliver_to, or absolute."""

    manager: str = "daemon"
    unit: str | None = None
    user_unit: bool = False
    start: str | None = None
    stop: str | None = None
    status: str | None = None
    log_dir: str = "log"

    def unit_name(self, app: str) -> str:
        """The systemd unit, with its `.service` suffix."""
        name = self.unit or app
        return name if "." in name else f"{name}.service"


@dataclass(frozen=True)
class HostSpec:
    """One machine: `[user@]host[:port]` or an ssh_config alias, plus its own environment."""

    address: str
    hostname: str
    user: str | None = None
    port: int | None = None
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    #: migrations run on the environment's primary host (default: its first host)
    primary: bool = False
    #: this host's own `node:` (merged over its environment's), None: the environment's
    node: NodeManager | None = None

    @property
    def name(self) -> str:
        return self.address

    @property
    def is_local(self) -> bool:
        """Plain `localhost` means this machine, reached without SSH; `user@localhost` and
        `localhost:22` still go through sshd."""
        return self.address == LOCALHOST

    @classmethod
    def parse(cls, text: str, env: Mapping[str, str | Secret] | None = None) -> HostSpec:
        match = _HOST.match(text)
        if not match:
            raise ValueError(text)
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise ValueError(text)
        return cls(text, match["host"].strip("[]"), match["user"], port, dict(env or {}))


@dataclass(frozen=True)
class CustomBuild:
    """`build.tool: custom`: the app's own build command and where it leaves the release."""

    command: str
    release_dir: str | None = None
    tarball: str | None = None
    release_type: str = "mix"


@dataclass(frozen=True)
class BuildConfig:
    host: HostSpec
    at: str
    tool: str = "auto"
    mix_env: str = "prod"
    branch: str | None = None
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    clean_paths: tuple[str, ...] = ("_build/{mix_env}/rel",)
    release: str | None = None
    auto_version: str | None = None
    custom: CustomBuild | None = None

    def release_name(self, app: str) -> str:
        """The release to build: build.release in an umbrella, else the app itself."""
        return self.release or app


@dataclass(frozen=True)
class HookSpec:
    """A hook listed in the .deliver file (hooks in the app's hooks/ directory are found by
    deliver.hooks); `script` is a local file, `run` an inline command, `task` a custom task
    (deliver/tasks.py)."""

    point: str
    source: str
    runs_on: str
    script: Path | None = None
    run: str | None = None
    task: str | None = None
    env: Mapping[str, str | Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSize:
    """`N` hosts at a time, or `N%` of the hosts (rounded up, at least one)."""

    size: int
    percent: bool = False

    def of(self, hosts: int) -> int:
        return max(1, math.ceil(hosts * self.size / 100)) if self.percent else self.size


#: `--all-at-once`: today's restart of every host together.
ALL_AT_ONCE = BatchSize(100, percent=True)


@dataclass(frozen=True)
class RolloutSettings:
    """`rollout:` (global, then `environments.<name>.rollout` key by key): how the commands
    that restart nodes go through the hosts, each batch passing the health check first.

    `batch` None is `auto`: a quarter of the hosts rounded DOWN, at least one, so at least
    three quarters serve (Kubernetes' maxUnavailable: 25%), and 1 at a time up to 7 hosts."""

    batch: BatchSize | None = None
    wait: float = 0.0  # seconds between a healthy batch and the next
    rollback_on_failure: bool = True

    def batch_size(self, hosts: int) -> int:
        return self.batch.of(hosts) if self.batch else max(1, hosts // 4)


@dataclass(frozen=True)
class Environment:
    name: str
    hosts: tuple[HostSpec, ...]
    deliver_to: str
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    dist_interface: str | None = None  # dist.interface: "loopback", "all" or None (not set)
    node: NodeManager = field(default_factory=NodeManager)

    def host_env(self, host: HostSpec) -> dict[str, str | Secret]:
        """The environment a node runs with on `host`: environment-wide, then per-host."""
        return {**self.env, **host.env}

    def manager(self, host: str) -> NodeManager:
        """The `node:` settings of the host named `host`: its own, else the environment's."""
        spec = next((h for h in self.hosts if h.name == host), None)
        return spec.node if spec is not None and spec.node is not None else self.node

    @property
    def primary(self) -> HostSpec:
        """The host that runs once-per-environment tasks such as migrations."""
        return next((host for host in self.hosts if host.primary), self.hosts[0])


@dataclass(frozen=True)
class Migrations:
    """Elixir (or Erlang) expressions run by `bin/<app> rpc` or `eval`; `{version}` in `down`."""

    up: str
    down: str
    status: str

    @classmethod
    def for_app(cls, app: str) -> Migrations:
        """Phoenix's convention: a `<App>.Release` module in the app, no helper library."""
        module = "".join(part.capitalize() for part in app.split("_")) + ".Release"
        return cls(
            f"{module}.migrate()",
            f"{module}.rollback({{version}})",
            f"{module}.migrations_status()",
        )


#: `hot_upgrade.policy`: which upgrades may be hot. patch-only: only when the major and minor
#: versions stay (0.2.0 -> 0.2.1); never: none (every upgrade restarts, with --fallback=restart)
HOT_POLICIES = ("always", "patch-only", "never")


@dataclass(frozen=True)
class HotUpgrade:
    policy: str = "always"


@dataclass(frozen=True)
class HealthCheck:
    """After a restart: the node must answer, and `url` (when set) must return 2xx.

    `{NAME}` in the url is taken from the host's env (e.g. `http://127.0.0.1:{PORT}/`); the
    url is fetched on the host itself, where the app listens.
    """

    url: str | None = None
    timeout: float = 5.0
    retries: int = 3
    interval: float = 1.0


@dataclass(frozen=True)
class RuntimeLinks:
    """What each extracted release gets linked in from outside it on the host.

    `linked_dirs` / `linked_files` (relative to the release root) point into
    `<deliver_to>/shared/`, kept across releases; `overrides` maps a file inside
    `releases/<version>/` (vm.args, sys.config, runtime.exs) to a host-local file.
    """

    linked_dirs: tuple[str, ...] = ()
    linked_files: tuple[str, ...] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.linked_dirs or self.linked_files or self.overrides)


@dataclass(frozen=True)
class SshStoreSpec:
    """A release store in a directory of another machine, reached over SSH.

    `path` is absolute or starts with `~/` (a relative path is taken from the login home)."""

    host: HostSpec
    path: str

    def __str__(self) -> str:
        if self.host.port is not None:
            user = f"{self.host.user}@" if self.host.user else ""
            return f"ssh://{user}{self.host.hostname}:{self.host.port}/{self.path.lstrip('/')}"
        return f"{self.host.address}:{self.path}"


@dataclass(frozen=True)
class S3StoreSpec:
    """A release store in S3 or an S3-compatible server: `s3://bucket/prefix`.

    Unset settings come from the usual AWS environment variables and config files."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    addressing_style: str | None = None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


#: Where releases are kept: a local directory, a directory on an SSH host, or S3.
StoreSpec = Path | SshStoreSpec | S3StoreSpec


@dataclass(frozen=True)
class SshSettings:
    config_file: Path | None = None
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    identity: Path | None = None
    connect_timeout: float = 10.0
    #: SSH handshakes at once (`--parallel`, ssh.parallel): they are CPU-bound on both ends,
    #: so more only queues (bench/RESULTS.md has the measurement behind the default)
    parallel: int = 32


@dataclass(frozen=True)
class Config:
    source: str
    project_dir: Path
    app: str
    build: BuildConfig | None
    release_store: StoreSpec
    environments: Mapping[str, Environment]
    ssh: SshSettings
    start_timeout: float = 30.0
    stop_timeout: float = 30.0
    keep_releases: int = 5
    #: seconds a mutating command waits for another's deploy lock (0: refuse at once)
    lock_wait: float = 0.0
    hooks: tuple[HookSpec, ...] = ()
    #: the team's custom tasks (`tasks:`, default deliver_tasks.py in the project)
    tasks_file: Path = Path("deliver_tasks.py")
    migrations: Migrations | None = None
    health_check: HealthCheck = field(default_factory=HealthCheck)
    hot_upgrade: HotUpgrade = field(default_factory=HotUpgrade)
    links: RuntimeLinks = field(default_factory=RuntimeLinks)
    #: `${VAR}` values whose variable was not set: an error for the command that needs one
    unset: tuple[ConfigError, ...] = ()

    def require_set(self, prefix: str) -> None:
        """Raise the error of the first unset `${VAR}` under key path `prefix` (`build.`,
        `environments.staging.`, `hooks.`): a command resolves only the secrets it uses."""
        for error in self.unset:
            if error.key.startswith(prefix):
                raise error

    def migration_tasks(self) -> Migrations:
        return self.migrations or Migrations.for_app(self.app)

    def require_build(self) -> BuildConfig:
        if self.build is None:
            raise ConfigError(self.source, "build.host", "required to build: set the build host")
        self.require_set("build.")
        return self.build

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            known = ", ".join(self.environments) or "none"
            error = ConfigError(
                self.source, f"environments.{name}", f"no such environment (configured: {known})"
            )
            error.hint = did_you_mean(name, self.environments)
            raise error
        self.require_set(f"environments.{name}.")
        return self.environments[name]

    def secrets(self) -> list[Secret]:
        envs = [env.env for env in self.environments.values()]
        envs += [host.env for env in self.environments.values() for host in env.hosts]
        envs += [hook.env for hook in self.hooks]
        if self.build:
            envs.append(self.build.env)
        return [value for env in envs for value in env.values() if isinstance(value, Secret)]


@dataclass(frozen=True)
class Overrides:
    """Values for one run that win over the file and DELIVER_* (given on the command line)."""

    mix_env: str | None = None
    lock_wait: float | None = None
    parallel: int | None = None

    def by_key(self) -> dict[tuple[str, ...], str | float | None]:
        return {
            ("build", "mix_env"): self.mix_env,
            ("lock_wait",): self.lock_wait,
            ("ssh", "parallel"): self.parallel,
        }


#: `link.<key>` -> the file it replaces inside `releases/<version>/` of a release.
LINKABLE = {"vm_args": "vm.args", "sys_config": "sys.config", "runtime_exs": "runtime.exs"}
