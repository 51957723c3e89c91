"""The .deliver file, read into frozen dataclasses.

Precedence, lowest first: built-in defaults < the .deliver file < DELIVER_* environment
variables (see ENVIRONMENT_KEYS) < command-line flags. Every value is validated here, and an
error names where the value came from, the key path and what was expected:

    .deliver: environments.production.hosts[1]: expected "[user@]host[:port]", got 42
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deliver.errors import ConfigError
from deliver.shell import Secret

DEFAULT_FILE = ".deliver"

#: DELIVER_* variables and the key each one overrides.
ENVIRONMENT_KEYS: dict[str, tuple[str, ...]] = {
    "DELIVER_APP": ("app",),
    "DELIVER_BUILD_HOST": ("build", "host"),
    "DELIVER_BUILD_AT": ("build", "at"),
    "DELIVER_BUILD_TOOL": ("build", "tool"),
    "DELIVER_MIX_ENV": ("build", "mix_env"),
    "DELIVER_BRANCH": ("build", "branch"),
    "DELIVER_RELEASE_STORE": ("release_store",),
    "DELIVER_SSH_CONFIG": ("ssh", "config"),
    "DELIVER_KNOWN_HOSTS": ("ssh", "known_hosts"),
    "DELIVER_SSH_IDENTITY": ("ssh", "identity"),
    "DELIVER_CONNECT_TIMEOUT": ("ssh", "connect_timeout"),
    "DELIVER_START_TIMEOUT": ("start_timeout",),
    # edeliver's name first, so that DELIVER_AUTO_VERSION wins when both are set
    "AUTO_VERSION": ("build", "auto_version"),
    "DELIVER_AUTO_VERSION": ("build", "auto_version"),
}

#: `build.host: localhost` (exactly that) builds on this machine, without SSH.
LOCALHOST = "localhost"
S3_ADDRESSING_STYLES = ("auto", "path", "virtual")

_HOST = re.compile(
    r"^(?:(?P<user>[^@\s:/]+)@)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:.]+\])"
    r"(?::(?P<port>\d{1,5}))?$"
)
#: scp-style `[user@]host:path`: a colon before any slash (as scp and rsync decide).
_SCP_STYLE = re.compile(r"^(?P<host>[^/:\s]+):(?P<path>.*)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")
#: Bucket names as S3 allows them (3-63 lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_HTTP_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, ...], Any] | None = None,
) -> Config:
    """Read and validate the .deliver file at `path` (default: ./.deliver or $DELIVER_CONFIG).

    `overrides` are command-line values by key path, e.g. {("build", "mix_env"): "staging"}.
    Raises ConfigError for a missing file, bad YAML or any invalid value.
    """
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("DELIVER_CONFIG") or DEFAULT_FILE)
    data = _read_yaml(path)
    origins: dict[tuple[str, ...], str] = {}
    for variable, key in ENVIRONMENT_KEYS.items():
        if variable in environ:
            _set_key(data, key, environ[variable])
            origins[key] = f"${variable}"
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_key(data, key, value)
            origins[key] = "command line"
    return _Reader(str(path), path.resolve().parent, origins, environ).config(data)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            "",
            "file not found (create one from .deliver.example, "
            "or point --config / DELIVER_CONFIG at it)",
        ) from None
    except OSError as error:
        raise ConfigError(str(path), "", f"cannot read: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), "", f"{where}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", f"expected a mapping of keys, got {_kind(data)}")
    return data


def _set_key(data: dict[str, Any], key: tuple[str, ...], value: Any) -> None:
    for part in key[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[key[-1]] = value


def _key_text(key: tuple[str | int, ...]) -> str:
    """("hooks", "pre_compile", 1) -> hooks.pre_compile[1]"""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return {dict: "a mapping", list: "a list", bool: "a boolean", type(None): "nothing"}.get(
        type(value), repr(value)
    )


@dataclass
class _Reader:
    """Validates the merged raw data; knows where each value came from for error messages."""

    source: str
    project_dir: Path
    origins: dict[tuple[str, ...], str]
    environ: Mapping[str, str]

    def fail(self, key: tuple[str | int, ...], problem: str) -> ConfigError:
        origin = self.origins.get(tuple(str(k) for k in key), self.source)
        return ConfigError(origin, _key_text(key), problem)

    def config(self, data: dict[str, Any]) -> Config:
        known = {
            "app",
            "build",
            "release_store",
            "s3",
            "environments",
            "ssh",
            "start_timeout",
            "stop_timeout",
            "keep_releases",
            "hooks",
            "migrations",
            "health_check",
            "linked_dirs",
            "linked_files",
            "link",
        }
        self.reject_unknown(data, (), known)
        build = None if data.get("build") is None else self.build(data["build"])
        app = self.app(data.get("app"), build)
        return Config(
            source=self.source,
            project_dir=self.project_dir,
            app=app,
            build=build,
            release_store=self.release_store(
                data.get("release_store", ".deliver-releases"), self.s3(data.get("s3", {}))
            ),
            environments=self.environments(data.get("environments", {})),
            ssh=self.ssh(data.get("ssh", {})),
            start_timeout=self.number(data.get("start_timeout", 30), ("start_timeout",)),
            stop_timeout=self.number(data.get("stop_timeout", 30), ("stop_timeout",)),
            keep_releases=self.count(data.get("keep_releases", 5), ("keep_releases",)),
            migrations=None if "migrations" not in data else self.migrations(data, app),
            health_check=self.health_check(data.get("health_check", {})),
            links=self.links(data),
            hooks=self.hooks(data.get("hooks", {})),
        )

    def reject_unknown(
        self, data: dict[str, Any], key: tuple[str | int, ...], known: set[str]
    ) -> None:
        for name in data:
            if name not in known:
                error = self.fail(
                    (*key, str(name)), f"unknown key (expected one of: {', '.join(sorted(known))})"
                )
                error.hint = _did_you_mean(str(name), known)
                raise error

    def mapping(self, value: Any, key: tuple[str | int, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        return value

    def string(self, value: Any, key: tuple[str | int, ...]) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {_kind(value)}")
        return value.strip()

    def number(self, value: Any, key: tuple[str | int, ...]) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(key, f"expected a positive number, got {_kind(value)}") from None
        if isinstance(value, bool) or number <= 0:
            raise self.fail(key, f"expected a positive number, got {_kind(value)}")
        return number

    def path(self, value: Any, key: tuple[str | int, ...]) -> Path:
        path = Path(self.string(value, key)).expanduser()
        return path if path.is_absolute() else self.project_dir / path

    def app(self, value: Any, build: BuildConfig | None) -> str:
        release = build.release if build else None
        if value is not None:
            app = self.string(value, ("app",))
            if not re.fullmatch(r"[a-z][a-z0-9_]*", app):
                raise self.fail(("app",), f"expected a release name like my_app, got {app!r}")
            if release is not None and release != app:
                raise self.fail(
                    ("build", "release"),
                    f"{release!r} differs from app {app!r}: hosts run the release by its name "
                    "(bin/<name>), so set only one of them",
                )
            return app
        if release is not None:
            return release
        detected = detect_app(self.project_dir)
        if detected is None and is_umbrella(self.project_dir):
            raise self.fail(
                ("build", "release"),
                "required in an umbrella project (its mix.exs has apps_path, no app): "
                "name the release to build, one of the releases in mix.exs",
            )
        if detected is None:
            raise self.fail(("app",), "not set, and no app name found in mix.exs or rebar.config")
        return detected

    def env(self, value: Any, key: tuple[str | int, ...]) -> dict[str, str | Secret]:
        env: dict[str, str | Secret] = {}
        for name, raw in self.mapping(value, key).items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise self.fail((*key, str(name)), "expected an environment variable name")
            if isinstance(raw, dict):
                env[name] = self.secret_file(raw, (*key, name))
                continue
            if raw is None or isinstance(raw, list):
                raise self.fail((*key, name), f"expected a string value, got {_kind(raw)}")
            env[name] = self.expand(str(raw), (*key, name))
        return env

    def secret_file(self, value: dict[str, Any], key: tuple[str | int, ...]) -> Secret:
        """`{file: path}`: the content of a local file (without its final newline), a Secret."""
        self.reject_unknown(value, key, {"file"})
        path = self.path(value.get("file"), (*key, "file"))
        try:
            return Secret(path.read_text().rstrip("\n"))
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise self.fail((*key, "file"), f"cannot read {path}: {reason}") from None

    def expand(self, value: str, key: tuple[str | int, ...]) -> str | Secret:
        """`${VAR}` takes VAR from the local environment and makes the value a Secret."""
        names = _REFERENCE.findall(value)
        if not names:
            return value
        missing = [name for name in names if name not in self.environ]
        if missing:
            raise self.fail(key, f"${{{missing[0]}}} is not set in the local environment")
        return Secret(_REFERENCE.sub(lambda m: self.environ[m.group(1)], value))

    def host(self, value: Any, key: tuple[str | int, ...]) -> HostSpec:
        env: dict[str, str | Secret] = {}
        primary = False
        if isinstance(value, dict):
            self.reject_unknown(value, key, {"host", "env", "primary"})
            env = self.env(value.get("env", {}), (*key, "env"))
            primary = self.boolean(value.get("primary", False), (*key, "primary"))
            value = value.get("host")
        try:
            spec = HostSpec.parse(value if isinstance(value, str) else "", env)
            return replace(spec, primary=True) if primary else spec
        except ValueError:
            shown = _kind(value)
            raise self.fail(
                key, f'expected "[user@]host[:port]" or an ssh_config alias, got {shown}'
            ) from None

    def build(self, value: Any) -> BuildConfig:
        from deliver.tools import available_tools
        from deliver.versions import parse_auto_version

        data = self.mapping(value, ("build",))
        self.reject_unknown(
            data,
            ("build",),
            {
                "host",
                "at",
                "tool",
                "mix_env",
                "branch",
                "env",
                "clean_paths",
                "release",
                "auto_version",
                "custom",
            },
        )
        if "host" not in data:
            raise self.fail(("build", "host"), "required: the build host's address")
        tool = self.string(data.get("tool", "auto"), ("build", "tool"))
        tools = ("auto", *available_tools())
        if tool not in tools:
            raise self.fail(("build", "tool"), f"expected one of {', '.join(tools)}, got {tool!r}")
        custom = None if data.get("custom") is None else self.custom(data["custom"])
        if (tool == "custom") != (custom is not None):
            raise self.fail(
                ("build", "custom"),
                "required with tool: custom (and only then): the build command and its output",
            )
        auto_version = data.get("auto_version")
        if auto_version is not None:
            auto_version = self.string(auto_version, ("build", "auto_version"))
            try:
                parse_auto_version(auto_version)
            except ValueError as error:
                raise self.fail(("build", "auto_version"), str(error)) from None
        release = data.get("release")
        if release is not None:
            release = self.string(release, ("build", "release"))
            if not re.fullmatch(r"[a-z][a-z0-9_]*", release):
                raise self.fail(
                    ("build", "release"), f"expected a release name like my_app, got {release!r}"
                )
        clean = data.get("clean_paths", list(BuildConfig.clean_paths))
        if not isinstance(clean, list):
            raise self.fail(("build", "clean_paths"), f"expected a list, got {_kind(clean)}")
        branch = data.get("branch")
        return BuildConfig(
            host=self.host(data["host"], ("build", "host")),
            at=self.string(data.get("at", "~/deliver-build"), ("build", "at")),
            tool=tool,
            mix_env=self.string(data.get("mix_env", "prod"), ("build", "mix_env")),
            branch=None if branch is None else self.string(branch, ("build", "branch")),
            env=self.env(data.get("env", {}), ("build", "env")),
            clean_paths=tuple(
                self.string(p, ("build", "clean_paths", i)) for i, p in enumerate(clean)
            ),
            release=release,
            auto_version=auto_version,
            custom=custom,
        )

    def custom(self, value: Any) -> CustomBuild:
        key: tuple[str | int, ...] = ("build", "custom")
        data = self.mapping(value, key)
        self.reject_unknown(data, key, {"command", "release_dir", "tarball", "release_type"})
        if "command" not in data:
            raise self.fail((*key, "command"), "required: the command that builds the release")
        if ("release_dir" in data) == ("tarball" in data):
            raise self.fail(key, "set one of release_dir (the assembled release) or tarball")
        output = {
            name: self.string(data[name], (*key, name))
            for name in ("release_dir", "tarball")
            if name in data
        }
        release_type = self.string(data.get("release_type", "mix"), (*key, "release_type"))
        if release_type in ("custom", "auto"):
            raise self.fail(
                (*key, "release_type"), "expected the tool whose start script the release has"
            )
        return CustomBuild(
            command=self.string(data["command"], (*key, "command")),
            release_type=release_type,
            **output,
        )

    def hooks(self, value: Any) -> tuple[HookSpec, ...]:
        """`hooks: {<point or alias>: <command> | {script|run, runs_on, env} | [...]}`."""
        from deliver.hooks import canonical_point, default_runs_on

        specs: list[HookSpec] = []
        for name, entries in self.mapping(value, ("hooks",)).items():
            key: tuple[str | int, ...] = ("hooks", str(name))
            point = canonical_point(str(name))
            if point is None:
                raise self.fail(key, "unknown hook point (see the hook table in the README)")
            items = entries if isinstance(entries, list) else [entries]
            for index, entry in enumerate(items):
                where = (*key, index) if isinstance(entries, list) else key
                specs.append(self.hook(point, entry, where, default_runs_on(point)))
        return tuple(specs)

    def hook(self, point: str, entry: Any, key: tuple[str | int, ...], default: str) -> HookSpec:
        source = f"{Path(self.source).name}: {_key_text(key)}"
        if isinstance(entry, str):
            return HookSpec(point, source, default, run=self.string(entry, key))
        data = self.mapping(entry, key)
        self.reject_unknown(data, key, {"script", "run", "runs_on", "env"})
        if ("script" in data) == ("run" in data):
            raise self.fail(key, "set one of script (a file) or run (a command)")
        where = self.string(data.get("runs_on", default), (*key, "runs_on"))
        if where not in (default, "local"):
            raise self.fail(
                (*key, "runs_on"), f"expected {default} or local for {point}, got {where!r}"
            )
        script = run = None
        if "script" in data:
            script = self.path(data["script"], (*key, "script"))
            if not script.is_file():
                raise self.fail((*key, "script"), f"no such file: {script}")
        else:
            run = self.string(data["run"], (*key, "run"))
        env = self.env(data.get("env", {}), (*key, "env"))
        return HookSpec(point, source, where, script=script, run=run, env=env)

    def environments(self, value: Any) -> dict[str, Environment]:
        result = {}
        for name, raw in self.mapping(value, ("environments",)).items():
            key: tuple[str | int, ...] = ("environments", str(name))
            data = self.mapping(raw, key)
            self.reject_unknown(data, key, {"hosts", "deliver_to", "env"})
            hosts = data.get("hosts")
            if not isinstance(hosts, list) or not hosts:
                raise self.fail((*key, "hosts"), f"expected a non-empty list, got {_kind(hosts)}")
            specs = tuple(self.host(h, (*key, "hosts", i)) for i, h in enumerate(hosts))
            if "deliver_to" not in data:
                raise self.fail((*key, "deliver_to"), "required: where the app lives on hosts")
            duplicates = {h.name for h in specs if [s.name for s in specs].count(h.name) > 1}
            if duplicates:
                raise self.fail((*key, "hosts"), f"host listed twice: {sorted(duplicates)[0]}")
            primaries = [h.name for h in specs if h.primary]
            if len(primaries) > 1:
                raise self.fail(
                    (*key, "hosts"), f"only one host can be primary, got {', '.join(primaries)}"
                )
            result[str(name)] = Environment(
                name=str(name),
                hosts=specs,
                deliver_to=self.string(data["deliver_to"], (*key, "deliver_to")),
                env=self.env(data.get("env", {}), (*key, "env")),
            )
        return result

    def release_store(self, value: Any, s3: S3StoreSpec) -> StoreSpec:
        """A local path, `[user@]host:path`, `ssh://[user@]host[:port]/path` or `s3://...`."""
        key = ("release_store",)
        text = self.string(value, key)
        scheme = _SCHEME.match(text)
        if scheme is None:
            scp = _SCP_STYLE.match(text)
            return self.ssh_store(scp["host"], scp["path"], text) if scp else self.path(text, key)
        if scheme["scheme"] == "s3":
            return self.s3_store(text, s3)
        if scheme["scheme"] == "ssh":
            return self.ssh_store_url(text)
        raise self.fail(
            key,
            f"unsupported scheme {scheme['scheme']}:// "
            "(expected a local path, [user@]host:path, ssh:// or s3://)",
        )

    def ssh_store(self, host: str, path: str, text: str) -> SshStoreSpec:
        key = ("release_store",)
        if not path.strip():
            raise self.fail(key, f'expected "[user@]host:path" with a path after ":", got {text!r}')
        try:
            spec = HostSpec.parse(host)
        except ValueError:
            raise self.fail(key, f'expected "[user@]host:path", got {text!r}') from None
        path = path.strip()
        if not path.startswith(("/", "~/")) and path != "~":
            path = "~/" + path
        return SshStoreSpec(spec, path.rstrip("/") or "/")

    def ssh_store_url(self, text: str) -> SshStoreSpec:
        from urllib.parse import urlsplit

        expected = f'expected "ssh://[user@]host[:port]/path", got {text!r}'
        try:
            url = urlsplit(text)
            port = url.port
        except ValueError:
            raise self.fail(("release_store",), expected) from None
        if not url.hostname or url.path in ("", "/") or url.query or url.fragment:
            raise self.fail(("release_store",), expected)
        # ssh://host/~/path is a path in the login home, as git reads it
        path = url.path[1:] if url.path.startswith("/~") else url.path
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        user = f"{url.username}@" if url.username else ""
        return self.ssh_store(user + host + (f":{port}" if port else ""), path, text)

    def s3_store(self, text: str, settings: S3StoreSpec) -> S3StoreSpec:
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        if not _BUCKET.match(bucket):
            raise self.fail(
                ("release_store",),
                'expected "s3://bucket[/prefix]" with a bucket name of 3-63 lowercase letters, '
                f"digits, dots and hyphens, got {text!r}",
            )
        return replace(settings, bucket=bucket, prefix=prefix.strip("/"))

    def s3(self, value: Any) -> S3StoreSpec:
        """The `s3:` settings, checked even while the store is elsewhere (a typo waits)."""
        data = self.mapping(value, ("s3",))
        self.reject_unknown(
            data, ("s3",), {"endpoint_url", "region", "profile", "addressing_style"}
        )
        values = {
            name: None if data.get(name) is None else self.string(data[name], ("s3", name))
            for name in ("endpoint_url", "region", "profile", "addressing_style")
        }
        endpoint, style = values["endpoint_url"], values["addressing_style"]
        if endpoint is not None and not _HTTP_URL.match(endpoint):
            raise self.fail(
                ("s3", "endpoint_url"), f'expected "http(s)://host[:port]", got {endpoint!r}'
            )
        if style is not None and style not in S3_ADDRESSING_STYLES:
            raise self.fail(
                ("s3", "addressing_style"),
                f"expected one of {', '.join(S3_ADDRESSING_STYLES)}, got {style!r}",
            )
        return S3StoreSpec(
            bucket="",
            endpoint_url=endpoint.rstrip("/") if endpoint else None,
            region=values["region"],
            profile=values["profile"],
            addressing_style=style,
        )

    def ssh(self, value: Any) -> SshSettings:
        data = self.mapping(value, ("ssh",))
        self.reject_unknown(
            data, ("ssh",), {"config", "known_hosts", "identity", "connect_timeout"}
        )
        config_file = self.path(data.get("config", "~/.ssh/config"), ("ssh", "config"))
        identity = data.get("identity")
        return SshSettings(
            config_file=config_file if config_file.exists() else None,
            known_hosts=self.path(
                data.get("known_hosts", "~/.ssh/known_hosts"), ("ssh", "known_hosts")
            ),
            identity=None if identity is None else self.path(identity, ("ssh", "identity")),
            connect_timeout=self.number(
                data.get("connect_timeout", 10), ("ssh", "connect_timeout")
            ),
        )

    def boolean(self, value: Any, key: tuple[str | int, ...]) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def count(self, value: Any, key: tuple[str | int, ...]) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"expected a whole number of at least 1, got {_kind(value)}")
        return value

    def migrations(self, data: dict[str, Any], app: str) -> Migrations:
        key = ("migrations",)
        raw = self.mapping(data["migrations"], key)
        self.reject_unknown(raw, key, {"up", "down", "status"})
        tasks = {
            name: self.string(raw[name], (*key, name))
            for name in ("up", "down", "status")
            if name in raw
        }
        if "down" in tasks and "{version}" not in tasks["down"]:
            raise self.fail(
                (*key, "down"), "must contain {version}: a rollback needs the version to go to"
            )
        return replace(Migrations.for_app(app), **tasks)

    def health_check(self, value: Any) -> HealthCheck:
        key = ("health_check",)
        data = self.mapping(value, key)
        self.reject_unknown(data, key, {"url", "timeout", "retries", "interval"})
        url = data.get("url")
        if url is not None:
            url = self.string(url, (*key, "url"))
            if not re.match(r"^https?://", url):
                raise self.fail((*key, "url"), f"expected an http:// or https:// URL, got {url!r}")
        return HealthCheck(
            url=url,
            timeout=self.number(data.get("timeout", 5), (*key, "timeout")),
            retries=self.count(data.get("retries", 3), (*key, "retries")),
            interval=self.number(data.get("interval", 1), (*key, "interval")),
        )

    def links(self, data: dict[str, Any]) -> RuntimeLinks:
        link = self.mapping(data.get("link", {}), ("link",))
        self.reject_unknown(link, ("link",), set(LINKABLE))
        return RuntimeLinks(
            linked_dirs=self.relative_paths(data.get("linked_dirs", []), ("linked_dirs",)),
            linked_files=self.relative_paths(data.get("linked_files", []), ("linked_files",)),
            overrides={
                LINKABLE[name]: self.string(path, ("link", name)) for name, path in link.items()
            },
        )

    def relative_paths(self, value: Any, key: tuple[str | int, ...]) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of paths, got {_kind(value)}")
        paths = []
        for index, raw in enumerate(value):
            text = self.string(raw, (*key, index))
            path = text.strip("/")
            if text.startswith(("/", "~")) or ".." in path.split("/"):
                raise self.fail((*key, index), f"expected a path inside the release, got {raw!r}")
            paths.append(path)
        return tuple(paths)


#: `link.<key>` -> the file it replaces inside `releases/<version>/` of a release.
LINKABLE = {"vm_args": "vm.args", "sys_config": "sys.config", "runtime_exs": "runtime.exs"}


def is_umbrella(project_dir: Path) -> bool:
    """Whether mix.exs is an umbrella's (`apps_path:`), whose releases are named by the user."""
    try:
        return re.search(r"\bapps_path:", (project_dir / "mix.exs").read_text()) is not None
    except OSError:
        return False


def detect_app(project_dir: Path) -> str | None:
    """The app name from mix.exs (`app: :name`) or rebar.config (`{release, {name, ...`)."""
    patterns = {
        "mix.exs": r"\bapp:\s*:([a-z][a-z0-9_]*)",
        "rebar.config": r"\{\s*release\s*,\s*\{\s*'?([a-z][a-z0-9_]*)",
    }
    for file_name, pattern in patterns.items():
        try:
            match = re.search(pattern, (project_dir / file_name).read_text())
        except OSError:
            continue
        if match:
            return match.group(1)
    return None


def _did_you_mean(name: str, known: set[str]) -> str | None:
    """A typo of a known key (delivr_to, biuld) gets the key it most likely meant."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f"did you mean {close[0]}?" if close else None
