"""The values of a .deliver file: frozen dataclasses every module may import.

They import nothing of deliver's but errors and shell: the reader that builds them from the file
is config/load.py. The grammars the reader checks against and the rest of deliver shares (hook
points, --auto-version parts, what a version may look like) are here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deliver.errors import ConfigError
from deliver.shell import Secret

#: `build.host: localhost` (exactly that) builds on this machine, without SSH.
LOCALHOST = "localhost"
S3_ADDRESSING_STYLES = ("auto", "path", "virtual")

_HOST = re.compile(
    r"^(?:(?P<user>[^@\s:/]+)@)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:.]+\])"
    r"(?::(?P<port>\d{1,5}))?$"
)


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
    deliver.hooks); `script` is a local file, `run` an inline command."""

    point: str
    source: str
    runs_on: str
    script: Path | None = None
    run: str | None = None
    env: Mapping[str, str | Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    name: str
    hosts: tuple[HostSpec, ...]
    deliver_to: str
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    #: `dist.interface`, where the nodes' Erlang distribution listens: "loopback", "all"
    #: (Erlang's default, chosen), or None (not set: Erlang's default)
    dist_interface: str | None = None

    def host_env(self, host: HostSpec) -> dict[str, str | Secret]:
        """The environment a node runs with on `host`: environment-wide, then per-host."""
        return {**self.env, **host.env}

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
    hooks: tuple[HookSpec, ...] = ()
    migrations: Migrations | None = None
    health_check: HealthCheck = field(default_factory=HealthCheck)
    links: RuntimeLinks = field(default_factory=RuntimeLinks)

    def migration_tasks(self) -> Migrations:
        return self.migrations or Migrations.for_app(self.app)

    def require_build(self) -> BuildConfig:
        if self.build is None:
            raise ConfigError(self.source, "build.host", "required to build: set the build host")
        return self.build

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            known = ", ".join(self.environments) or "none"
            raise ConfigError(
                self.source, f"environments.{name}", f"no such environment (configured: {known})"
            )
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

    def by_key(self) -> dict[tuple[str, ...], str | None]:
        return {("build", "mix_env"): self.mix_env}


#: `link.<key>` -> the file it replaces inside `releases/<version>/` of a release.
LINKABLE = {"vm_args": "vm.args", "sys_config": "sys.config", "runtime_exs": "runtime.exs"}


# hook points --------------------------------------------------------------------------------------

#: Each base point, its alias, and where its hooks run by default.
BASE_POINTS = {
    "init_app_remotely": ("init", "build"),
    "git_push": ("push", "build"),
    "erlang_get_and_update_deps": ("deps", "build"),
    "erlang_clean_compile": ("compile", "build"),
    "erlang_generate_release": ("release", "build"),
    "extract_release_archive": ("extract", "deploy"),
    "start_deployed_release": ("start", "deploy"),
    "upgrade_release": ("upgrade", "deploy"),
}

POINTS = tuple(f"{when}_{base}" for base in BASE_POINTS for when in ("pre", "post"))

RUNS_ON = ("build", "deploy", "local")


def canonical_point(name: str) -> str | None:
    """`pre_compile` -> `pre_erlang_clean_compile`; None for a name that is no hook point."""
    when, _, base = name.partition("_")
    if when not in ("pre", "post"):
        return None
    aliases = {alias: full for full, (alias, _) in BASE_POINTS.items()}
    base = aliases.get(base, base)
    return f"{when}_{base}" if base in BASE_POINTS else None


def default_runs_on(point: str) -> str:
    return BASE_POINTS[point.partition("_")[2]][1]


def point_names(point: str) -> tuple[str, str]:
    """The full name and the alias of a point: the names a hook file may have."""
    when, _, base = point.partition("_")
    return point, f"{when}_{BASE_POINTS[base][0]}"


# versions -----------------------------------------------------------------------------------------

#: --auto-version parts, and the edeliver spellings that mean the same.
AUTO_PARTS = (
    "revision",
    "commit-count",
    "commit-count-branch",
    "branch",
    "branch-unless-main",
    "date",
    "time",
)

_ALIASES = {
    "git-revision": "revision",
    "git-commit-count": "commit-count",
    "commit-count-all": "commit-count",
    "commit-count-all-branches": "commit-count",
    "git-commit-count-branch": "commit-count-branch",
    "git-branch": "branch",
    "branch-unless-master": "branch-unless-main",
    "git-branch-unless-master": "branch-unless-main",
    "git-branch-unless-main": "branch-unless-main",
    "build-date": "date",
    "build-time": "time",
}

INCREMENTS = ("major", "minor", "patch")

#: What a version may look like: it becomes a file and directory name on every host.
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")


def parse_auto_version(text: str) -> tuple[str, ...]:
    """`commit-count+git-revision` -> ("commit-count", "revision"); ValueError if unknown."""
    parts = []
    for raw in text.split("+"):
        part = _ALIASES.get(raw.strip(), raw.strip())
        if part not in AUTO_PARTS:
            raise ValueError(
                f"unknown part {raw.strip()!r} (expected {', '.join(AUTO_PARTS)}, joined by +)"
            )
        parts.append(part)
    return tuple(parts)
