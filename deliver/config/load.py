"""Reading the .deliver file into the frozen dataclasses of config/model.py.

Precedence, lowest first: built-in defaults < the .deliver file < DELIVER_* environment
variables (see ENVIRONMENT_KEYS) < command-line flags. Every value is validated here, and an
error names where the value came from, the key path and what was expected:

    .deliver: environments.production.hosts[1]: expected "[user@]host[:port]", got 42
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from deliver.config.build import BuildReader
from deliver.config.find import find_config, project_dir
from deliver.config.grammar import canonical_point, copy_example_hint, default_runs_on
from deliver.config.model import (
    HOT_POLICIES,
    LINKABLE,
    BuildConfig,
    Config,
    Environment,
    HealthCheck,
    HookSpec,
    HotUpgrade,
    Migrations,
    Overrides,
    RolloutSettings,
    RuntimeLinks,
    SshSettings,
)
from deliver.config.node import NodeReader
from deliver.config.project import detect_app, is_umbrella
from deliver.config.rollout import RolloutReader
from deliver.config.stores import StoreReader
from deliver.config.values import Key, key_text, kind
from deliver.errors import ConfigError

#: `environments.<name>.dist.interface`: where the nodes' Erlang distribution listens.
DIST_INTERFACES = ("loopback", "all")

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
    "DELIVER_PARALLEL": ("ssh", "parallel"),
    "DELIVER_START_TIMEOUT": ("start_timeout",),
    "DELIVER_LOCK_WAIT": ("lock_wait",),
    # edeliver's name first, so that DELIVER_AUTO_VERSION wins when both are set
    "AUTO_VERSION": ("build", "auto_version"),
    "DELIVER_AUTO_VERSION": ("build", "auto_version"),
}


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Overrides | None = None,
) -> Config:
    """Read and validate the config file at `path` (default: $DELIVER_CONFIG, else the one
    find_config finds from the current directory up to the git work tree's root).

    `overrides` are values given for this run (the command line's flags); they win over the
    file and the environment. Raises ConfigError for a missing file, bad YAML or any invalid
    value.
    """
    environ = os.environ if environ is None else environ
    named = path or environ.get("DELIVER_CONFIG")
    path = Path(named) if named else find_config(Path.cwd())
    data = _read_yaml(path)
    origins: dict[tuple[str, ...], str] = {}
    for variable, key in ENVIRONMENT_KEYS.items():
        if variable in environ:
            _set_key(data, key, environ[variable])
            origins[key] = f"${variable}"
    for key, value in (overrides or Overrides()).by_key().items():
        if value is not None:
            _set_key(data, key, value)
            origins[key] = "command line"
    return _Reader(str(path), project_dir(path), origins, environ).config(data)


def _read_yaml(path: Path) -> dict[str, Any]:
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
        raise ConfigError(str(path), "", f"expected a mapping of keys, got {kind(data)}")
    return data


def _set_key(data: dict[str, Any], key: tuple[str, ...], value: Any) -> None:
    for part in key[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[key[-1]] = value


class _Reader(StoreReader, BuildReader, RolloutReader, NodeReader):
    """The sections of the file, read into a Config."""

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
            "lock_wait",
            "hooks",
            "migrations",
            "health_check",
            "hot_upgrade",
            "linked_dirs",
            "linked_files",
            "link",
            "rollout",
            "tasks",
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
            environments=self.environments(
                data.get("environments", {}),
                self.rollout(data.get("rollout", {}), ("rollout",), RolloutSettings()),
            ),
            ssh=self.ssh(data.get("ssh", {})),
            start_timeout=self.number(data.get("start_timeout", 30), ("start_timeout",)),
            stop_timeout=self.number(data.get("stop_timeout", 30), ("stop_timeout",)),
            keep_releases=self.count(data.get("keep_releases", 5), ("keep_releases",)),
            lock_wait=self.seconds(data.get("lock_wait", 0), ("lock_wait",)),
            migrations=None if "migrations" not in data else self.migrations(data, app),
            health_check=self.health_check(data.get("health_check", {})),
            hot_upgrade=self.hot_upgrade(data.get("hot_upgrade", {})),
            links=self.links(data),
            hooks=self.hooks(data.get("hooks", {})),
            tasks_file=self.path(data.get("tasks", "deliver_tasks.py"), ("tasks",)),
            unset=tuple(self.unset),
        )

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

    def hooks(self, value: Any) -> tuple[HookSpec, ...]:
        """`hooks: {<point or alias>: <command> | {script|run, runs_on, env} | [...]}`."""
        specs: list[HookSpec] = []
        for name, entries in self.mapping(value, ("hooks",)).items():
            key: Key = ("hooks", str(name))
            point = canonical_point(str(name))
            if point is None:
                raise self.fail(key, "unknown hook point (see the hook table in the README)")
            items = entries if isinstance(entries, list) else [entries]
            for index, entry in enumerate(items):
                where = (*key, index) if isinstance(entries, list) else key
                specs.append(self.hook(point, entry, where, default_runs_on(point)))
        return tuple(specs)

    def hook(self, point: str, entry: Any, key: Key, default: str) -> HookSpec:
        source = f"{Path(self.source).name}: {key_text(key)}"
        if isinstance(entry, str):
            return HookSpec(point, source, default, run=self.string(entry, key))
        if not isinstance(entry, dict):
            raise self.fail(
                key,
                f"expected a command or a mapping with script, run or task, got {kind(entry)}",
            )
        data = entry
        self.reject_unknown(data, key, {"script", "run", "task", "runs_on", "env"})
        if sum(name in data for name in ("script", "run", "task")) != 1:
            raise self.fail(
                key, "set one of script (a file), run (a command) or task (a custom task)"
            )
        where = self.string(data.get("runs_on", default), (*key, "runs_on"))
        if where not in (default, "local"):
            raise self.fail(
                (*key, "runs_on"), f"expected {default} or local for {point}, got {where!r}"
            )
        script = run = task = None
        if "task" in data:
            task = self.string(data["task"], (*key, "task"))
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", task):
                raise self.fail((*key, "task"), f"expected a task's name, got {task!r}")
            if where == "local":
                raise self.fail((*key, "runs_on"), "a task runs here already, with a connection")
        elif "script" in data:
            script = self.path(data["script"], (*key, "script"))
            if not script.is_file():
                error = self.fail((*key, "script"), f"no such file: {script}")
                error.hint = copy_example_hint(script)
                raise error
        else:
            run = self.string(data["run"], (*key, "run"))
        env = self.env(data.get("env", {}), (*key, "env"))
        return HookSpec(point, source, where, script=script, run=run, task=task, env=env)

    def environments(self, value: Any, rollout: RolloutSettings) -> dict[str, Environment]:
        """Each environment; `rollout` is the global section, under each one's own."""
        result = {}
        for name, raw in self.mapping(value, ("environments",)).items():
            key: Key = ("environments", str(name))
            data = self.mapping(raw, key)
            self.reject_unknown(
                data, key, {"hosts", "deliver_to", "env", "rollout", "dist", "node"}
            )
            hosts = data.get("hosts")
            if not isinstance(hosts, list) or not hosts:
                raise self.fail((*key, "hosts"), f"expected a non-empty list, got {kind(hosts)}")
            specs = tuple(self.host(h, (*key, "hosts", i)) for i, h in enumerate(hosts))
            node = self.node(data.get("node"), (*key, "node"))  # first: its errors are its own
            specs = self.host_nodes(specs, hosts, data.get("node"), key)
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
                deliver_to=self.remote_dir(data["deliver_to"], (*key, "deliver_to")),
                env=self.env(data.get("env", {}), (*key, "env")),
                rollout=self.rollout(data.get("rollout", {}), (*key, "rollout"), rollout),
                dist_interface=self.dist(data.get("dist"), (*key, "dist")),
                node=node,
            )
        return result

    def dist(self, value: Any, key: Key) -> str | None:
        """`dist: {interface: loopback | all}`: where the nodes' Erlang distribution listens."""
        if value is None:
            return None
        data = self.mapping(value, key)
        self.reject_unknown(data, key, {"interface"})
        interface = self.string(data.get("interface"), (*key, "interface"))
        if interface not in DIST_INTERFACES:
            raise self.fail(
                (*key, "interface"),
                f"expected {' or '.join(DIST_INTERFACES)}, got {interface!r}",
            )
        return interface

    def ssh(self, value: Any) -> SshSettings:
        data = self.mapping(value, ("ssh",))
        self.reject_unknown(
            data, ("ssh",), {"config", "known_hosts", "identity", "connect_timeout", "parallel"}
        )
        default = self.path("~/.ssh/config", ("ssh", "config"))
        config_file = self.path(data.get("config", "~/.ssh/config"), ("ssh", "config"))
        if config_file != default and not config_file.is_file():
            # another file, named but missing: every host would later be "unknown"
            raise self.fail(("ssh", "config"), f"no such file: {config_file}")
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
            parallel=self.count(_whole(data.get("parallel", 32)), ("ssh", "parallel")),
        )

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

    def hot_upgrade(self, value: Any) -> HotUpgrade:
        key = ("hot_upgrade",)
        data = self.mapping(value, key)
        self.reject_unknown(data, key, {"policy"})
        policy = self.string(data.get("policy", "always"), (*key, "policy"))
        if policy not in HOT_POLICIES:
            raise self.fail(
                (*key, "policy"), f"expected one of {', '.join(HOT_POLICIES)}, got {policy!r}"
            )
        return HotUpgrade(policy)

    def links(self, data: dict[str, Any]) -> RuntimeLinks:
        link = self.mapping(data.get("link", {}), ("link",))
        self.reject_unknown(link, ("link",), set(LINKABLE))
        return RuntimeLinks(
            linked_dirs=self.relative_paths(data.get("linked_dirs", []), ("linked_dirs",)),
            linked_files=self.relative_paths(data.get("linked_files", []), ("linked_files",)),
            overrides={
                LINKABLE[name]: self.text(path, ("link", name)) for name, path in link.items()
            },
        )


def _whole(value: Any) -> Any:
    """A whole number written as text ($DELIVER_PARALLEL) as the number; anything else as it is
    (the reader says what was expected)."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value
