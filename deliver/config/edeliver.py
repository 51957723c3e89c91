"""edeliver's `.deliver/config` mapped onto deliver's config: the pure half of `deliver import
edeliver` (commands/edeliver.py evaluates the bash file and hands over what it recorded).

edeliver's config is bash that edeliver sources: variables (APP, BUILD_HOST, PRODUCTION_HOSTS,
DELIVER_TO, ...) and hook functions named after its hook points, whose bodies call its helpers
(`__sync_remote "<script>"` runs the script on the build or deploy hosts, `status "msg"`
prints). This module turns the values of those variables into deliver's keys, and the
recorded calls of each hook function into `hooks:` entries (edeliver_hooks.convert), and lists
every difference in meaning as a Note that says what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from deliver.config.grammar import parse_auto_version

#: The environments edeliver knows, with the prefix of their variables.
ENVIRONMENTS = {"staging": "STAGING", "production": "PRODUCTION"}

#: edeliver variables that are its command-line flags: deliver takes them as flags.
FLAG_VARIABLES = {
    "START_DEPLOY": "--start-deploy",
    "CLEAN_DEPLOY": "--clean (deliver build release --clean)",
    "SKIP_GIT_CLEAN": "--skip-git-clean",
    "SKIP_MIX_CLEAN": "--skip-mix-clean",
    "INCREMENT_VERSION": "--increment-version=",
    "SET_VERSION": "--set-version=",
    "MODE": "--verbose / --debug",
    "VERBOSE": "--verbose",
    "SKIP_RELUP_MODIFICATIONS": "(deliver build upgrade writes its own relup)",
}

#: edeliver variables deliver has no use for, and why.
IGNORED_VARIABLES = {
    "REBAR_CONFIG": "deliver runs rebar3 with the project's rebar.config",
    "BUILD_CMD": "deliver detects the build tool (build.tool: auto)",
    "RELEASE_CMD": "deliver detects the build tool (build.tool: auto)",
    "OWN_EDELIVER": "deliver needs nothing inside the release",
    "BUILD_ENV": "set build.mix_env, or variables under build.env",
}

#: HOME in the isolated shell: `~` again in what it recorded (a local `scp ~/x` stays yours).
HOME = "/nonexistent-deliver-import-home"

#: Variables every edeliver config may read without setting: edeliver provides them.
PROVIDED = {
    "APP", "BUILD_AT", "BUILD_HOST", "BUILD_USER", "DELIVER_TO", "DEPLOY_ENVIRONMENT", "HOME",
    "MIX_CMD", "MIX_ENV", "SILENCE", "TARGET_MIX_ENV", "VERSION", "RELEASE_DIR", "HOSTS",
    "PWD", "USER", "TEST_AT", "RELEASE_VERSION", "ERLANG_APP", "PATH", "SHELL", "TERM", "LANG",
}  # fmt: skip


@dataclass(frozen=True)
class Note:
    """One thing the import could not translate, or whose meaning differs, and what to do."""

    subject: str  # the variable or function: `GIT_CLEAN_PATHS`, `pre_erlang_clean_compile`
    text: str


@dataclass(frozen=True)
class Call:
    """A command a hook function (or the file itself, while sourced) ran, recorded not run:
    `kind` is the edeliver helper (`__sync_remote`, `status`, ...) or `exec` for any other
    command, with its arguments as the local shell expanded them."""

    kind: str
    args: tuple[str, ...]

    def text(self) -> str:
        return " ".join(self.args)


@dataclass(frozen=True)
class Sourced:
    """What sourcing the file in one edeliver environment left: its variables, its functions
    (name -> `declare -f` text), the commands run while sourcing, and bash's own complaints."""

    environment: str
    variables: Mapping[str, str]
    functions: Mapping[str, str]
    calls: tuple[Call, ...] = ()
    errors: tuple[str, ...] = ()
    #: False when the file stopped the shell (`exit`, a fatal error) before its end
    complete: bool = True
    #: variables set from a command's output (`$(hostname)`): the commands, recorded
    substituted: Mapping[str, tuple[Call, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class HookRun:
    """The recorded calls of one hook function, run with TARGET_MIX_ENV=`mix_env`."""

    function: str
    mix_env: str
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Evaluation:
    """Everything the bash side recorded: one Sourced per environment, the hook runs, and the
    file's text (for what only the text shows: a variable assigned twice, one read from the
    environment)."""

    source: str
    text: str
    sourced: Mapping[str, Sourced]
    hook_runs: tuple[HookRun, ...] = ()
    isolation: str = ""
    with_env: bool = False


@dataclass
class Conversion:
    """The deliver config (as YAML data), and the notes of what differs."""

    data: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    #: example hook scripts (deliver's hooks/) the config refers to: copied beside it
    scripts: set[str] = field(default_factory=set)

    def note(self, subject: str, text: str) -> None:
        self.notes.append(Note(subject, text))

    def yaml(self, source: str) -> str:
        header = (
            f"# deliver's config, converted from edeliver's {source} by "
            "`deliver import edeliver`.\n# Every key is documented in .deliver.example; "
            "`deliver check config` checks this file.\n"
        )
        return header + yaml.dump(self.data, Dumper=_Dumper, sort_keys=False, width=100)


class _Dumper(yaml.SafeDumper):
    """Multi-line hook scripts as `|` blocks, readable as the shell they are."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not re.search(r"[ \t]\n", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def convert_variables(evaluation: Evaluation) -> Conversion:
    """deliver's keys for the file's variables, and the notes on the file as a whole (the hook
    functions are edeliver_hooks.py's)."""
    production = evaluation.sourced["production"]
    values = production.variables
    result = Conversion({})
    _app(values, result)
    _build(values, result)
    _environments(evaluation, result)
    _store(values, result)
    _links_and_migrations(values, result)
    _differences(values, evaluation, result)
    for name, calls in production.substituted.items():
        shown = "`, `".join(call.text() for call in calls)
        result.note(
            name,
            f"set from the output of `{shown}`, which was recorded, not run: empty here; "
            "set the value in the converted config by hand",
        )
    for call in production.calls:
        result.note(
            "while sourcing",
            f"the file runs `{call.text()}` when edeliver reads it; it was recorded, not run, "
            "and is not translated: do it by hand, or in a hook",
        )
    for line in production.errors:
        result.note("bash", f"{line} (refused in the isolated shell; not translated)")
    if not production.complete:
        result.note(
            "bash",
            "the file stopped the shell before its end (exit, or a fatal error): what comes "
            "after that point was not read; check the converted config against the file",
        )
    return result


def _app(values: Mapping[str, str], result: Conversion) -> None:
    if values.get("APP"):
        result.data["app"] = values["APP"]
    else:
        result.note("APP", "not set: deliver takes the app's name from mix.exs or rebar.config")


def _build(values: Mapping[str, str], result: Conversion) -> None:
    host, user = values.get("BUILD_HOST", ""), values.get("BUILD_USER", "")
    if not host:
        result.note("BUILD_HOST", "not set: set build.host before `deliver build release`")
        return
    build: dict[str, Any] = {"host": f"{user}@{host}" if user else host}
    if host == "localhost":
        if user:
            result.note(
                "BUILD_HOST",
                f"localhost: edeliver logs in over SSH, and so does deliver with {user}@localhost"
                " (a plain `localhost` would build on this machine without SSH)",
            )
        else:
            build["host"] = "localhost:22"  # edeliver's localhost goes through sshd
            result.note("BUILD_HOST", "localhost without BUILD_USER: written localhost:22 (SSH)")
    elif not user:
        result.note("BUILD_USER", "not set: deliver logs in as your ssh_config's user")
    if values.get("BUILD_AT"):
        build["at"] = values["BUILD_AT"]
    build["tool"] = _tool(values, result)
    if values.get("TARGET_MIX_ENV"):
        build["mix_env"] = values["TARGET_MIX_ENV"]
    if values.get("AUTO_VERSION"):
        try:
            parse_auto_version(values["AUTO_VERSION"])
            build["auto_version"] = values["AUTO_VERSION"]
        except ValueError as error:
            result.note("AUTO_VERSION", f"not translated: {error}")
    result.data["build"] = build


def _tool(values: Mapping[str, str], result: Conversion) -> str:
    if values.get("USING_DISTILLERY", "").lower() == "true":
        result.note(
            "USING_DISTILLERY",
            "build.tool: distillery (deliver runs `mix distillery.release`); on Elixir >= "
            "1.9 consider `mix release` (build.tool: mix) and removing rel/config.exs",
        )
        return "distillery"
    if values.get("RELEASE_DIR"):
        result.note(
            "RELEASE_DIR",
            f"{values['RELEASE_DIR']!r} is not needed: deliver finds the release the build "
            "tool made (for a build of your own, see build.custom in .deliver.example)",
        )
    result.note(
        "build tool",
        "without USING_DISTILLERY edeliver builds with exrm (or rebar), which deliver does not "
        "run: build.tool auto picks mix release for a mix project (add a `releases:` entry "
        "to mix.exs if you have none), distillery with rel/config.exs, rebar3 with relx",
    )
    return "auto"


def _environments(evaluation: Evaluation, result: Conversion) -> None:
    environments: dict[str, Any] = {}
    for name, prefix in ENVIRONMENTS.items():
        values = evaluation.sourced[name].variables
        hosts, user = values.get(f"{prefix}_HOSTS", "").split(), values.get(f"{prefix}_USER", "")
        if not hosts:
            if f"{prefix}_HOSTS" in values:
                result.note(f"{prefix}_HOSTS", f"empty: no {name} environment written")
            continue
        if not user:
            result.note(f"{prefix}_USER", "not set: deliver logs in as your ssh_config's user")
        deliver_to = values.get("TEST_AT") if name == "staging" else None
        deliver_to = deliver_to or values.get("DELIVER_TO")
        if not deliver_to:
            result.note("DELIVER_TO", f"not set: {name} needs deliver_to, written as ~/{name}")
            deliver_to = f"~/{name}"
        environments[name] = {
            "hosts": [f"{user}@{host}" if user else host for host in hosts],
            "deliver_to": deliver_to,
            "dist": {"interface": "all"},
        }
    if environments:
        result.data["environments"] = environments
        result.note(
            "dist",
            "edeliver's nodes listen for Erlang distribution on every interface: written "
            "dist: {interface: all} to keep that; loopback is safer unless the nodes cluster",
        )
        first = next(iter(environments.values()))["deliver_to"]
        result.note(
            "DELIVER_TO",
            f"deliver keeps its releases in {first}/releases/<version> with a `current` link, "
            f"not in edeliver's {first}/<app>/: the two do not collide; stop the node edeliver "
            "started before the first `deliver deploy release --start-deploy`",
        )
    else:
        result.note(
            "hosts",
            "no STAGING_HOSTS or PRODUCTION_HOSTS: add environments.<name>.hosts and deliver_to",
        )


def _store(values: Mapping[str, str], result: Conversion) -> None:
    store = values.get("RELEASE_STORE", "")
    if not store:
        return
    if store.startswith("s3://"):
        bucket = re.sub(r"^s3://([^@/]*@)?", "s3://", store)
        result.data["release_store"] = bucket
        if bucket != store:
            result.note(
                "RELEASE_STORE",
                "credentials in the s3:// URL were left out: deliver takes them from "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws (see s3: in .deliver.example)",
            )
    elif re.fullmatch(r"[^/\s:]+:.*", store) or store.startswith(("/", "~", ".")):
        result.data["release_store"] = store
    else:
        result.note("RELEASE_STORE", f"{store!r} is no store deliver knows: set release_store")


def _links_and_migrations(values: Mapping[str, str], result: Conversion) -> None:
    links = {
        key: values[variable]
        for variable, key in (("LINK_VM_ARGS", "vm_args"), ("LINK_SYS_CONFIG", "sys_config"))
        if values.get(variable)
    }
    if links:
        result.data["link"] = links
    repo = values.get("ECTO_REPOSITORY", "")
    if repo and re.fullmatch(r"[A-Z][A-Za-z0-9_]*(\.[A-Z][A-Za-z0-9_]*)*", repo):
        app = values.get("APP") or "my_app"
        run = f"Application.load(:{app}); Ecto.Migrator.with_repo({repo}, &Ecto.Migrator.run"
        result.data["migrations"] = {
            "up": f"{run}(&1, :up, all: true))",
            "down": f"{run}(&1, :down, to: {{version}}))",
            "status": f"Application.load(:{app}); Ecto.Migrator.with_repo({repo}, "
            "&Ecto.Migrator.migrations(&1))",
        }
        result.note(
            "ECTO_REPOSITORY",
            f"migrations: run {repo}'s migrations with Ecto.Migrator inside the release "
            "(`deliver migrate`, `--run-migrations`); edeliver's `migrate` needed its helper "
            "in the release. A `<App>.Release` module (Phoenix's convention) is the cleaner way",
        )
    elif repo:
        result.note("ECTO_REPOSITORY", f"{repo!r} is no Elixir module name: not translated")


def _differences(values: Mapping[str, str], evaluation: Evaluation, result: Conversion) -> None:
    if values.get("GIT_CLEAN_PATHS"):
        result.note(
            "GIT_CLEAN_PATHS",
            f"edeliver runs `git clean -ffdx {values['GIT_CLEAN_PATHS']}` on the build host "
            "(untracked and ignored files; tracked ones stay). deliver's build.clean_paths "
            "removes whole paths before every build; it was not set. For edeliver's meaning add "
            "a post_push hook running that git clean",
        )
    for variable, flag in FLAG_VARIABLES.items():
        if values.get(variable):
            result.note(variable, f"is an edeliver flag: give {flag} on the command line")
    for variable, why in IGNORED_VARIABLES.items():
        if values.get(variable):
            result.note(variable, f"not translated: {why}")
    _assigned_twice(evaluation, result)
    _from_environment(evaluation, result)


def _assigned_twice(evaluation: Evaluation, result: Conversion) -> None:
    for variable in ("DELIVER_TO", "BUILD_HOST", "PRODUCTION_HOSTS", "STAGING_HOSTS", "APP"):
        assignment = rf"""^\s*(?:export\s+)?{variable}=("[^"]*"|'[^']*'|\S*)\s*(#.*|;.*)?$"""
        count = len(re.findall(assignment, evaluation.text, re.M))
        if count < 2:
            continue
        seen = {name: s.variables.get(variable, "") for name, s in evaluation.sourced.items()}
        shown = ", ".join(f"{name}: {value!r}" for name, value in seen.items())
        result.note(
            variable,
            f"assigned {count} times; the last assignment that ran won when sourced as each "
            f"environment ({shown}): check the converted value",
        )


def _from_environment(evaluation: Evaluation, result: Conversion) -> None:
    text = re.sub(r"(?m)^\s*#.*$", "", evaluation.text)
    assigned = set(re.findall(r"(?:^|[\s;(])(?:export\s+|local\s+)?([A-Za-z_]\w*)=", text))
    assigned |= set(re.findall(r"\bfor\s+([A-Za-z_]\w*)\s+in\b", text))
    read = set(re.findall(r"\$\{?([A-Za-z_]\w*)", text))
    for name in sorted(read - assigned - PROVIDED):
        if name.startswith("_") or not name.isupper():
            continue
        if evaluation.with_env:
            text = "read from your environment (--with-env): the converted value is yours now"
        else:
            text = (
                "read from the environment, which the import does not pass: it was empty here "
                "(pass yours with --with-env, or set the value in the converted config)"
            )
        result.note(name, text)
