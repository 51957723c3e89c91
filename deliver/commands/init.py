"""`deliver init`: a short config for the app in this directory, that `deliver check config`
accepts as written. The optional blocks are there, commented out, one line each saying what
they do; `.deliver.example` stays the full reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deliver.config.find import CONFIG_NAMES, find_app_dir
from deliver.config.load import load_config
from deliver.config.project import detect_app, is_umbrella
from deliver.errors import ConfigError, UsageError
from deliver.output import Output
from deliver.tools import detected_tool

CONFIG_NAME = ".deliver.yml"
STORE_DIR = ".deliver-releases"
_UMBRELLA_RELEASE = re.compile(r"\breleases:\s*\[\s*([a-z][a-z0-9_]*):")


@dataclass(frozen=True)
class InitAnswers:
    """What `deliver init` is told (flags) or asks (on a terminal)."""

    build_host: str = "builder@build.example.com"
    hosts: tuple[str, ...] = ("deploy@web1.example.com",)
    deliver_to: str | None = None  # default: ~/apps/<app>
    environment: str = "production"
    force: bool = False


@dataclass(frozen=True)
class Project:
    """What init found in the app's directory."""

    app: str
    tool: str
    release: str | None  # an umbrella's release to build


def detect_project(directory: Path) -> Project:
    """The app name, the build tool and (umbrella) the release; UsageError when the directory
    is no Elixir or Erlang project deliver knows."""
    tool = detected_tool(directory)
    if tool is None:
        raise UsageError(
            f"{directory} has no mix.exs or rebar.config",
            hint="run deliver init in your app's repository",
        )
    if is_umbrella(directory):
        match = _UMBRELLA_RELEASE.search((directory / "mix.exs").read_text())
        if match is None:
            raise UsageError(
                "this umbrella's mix.exs defines no releases: add one under releases: [...]"
            )
        return Project(match.group(1), tool, match.group(1))
    app = detect_app(directory)
    if app is None:
        raise UsageError(f"no app name found in {directory}'s mix.exs or rebar.config")
    return Project(app, tool, None)


def init(directory: Path, out: Output, answers: InitAnswers) -> Path:
    """Write `.deliver.yml` in `directory` (refused if a config is there, unless `force`),
    check it as `check config` would, add the local store to .gitignore; returns the path.
    Run in a subdirectory of the app's git repository, it writes at the app's root."""
    directory = find_app_dir(directory) or directory
    existing = [name for name in CONFIG_NAMES if (directory / name).is_file()]
    if existing and not answers.force:
        raise UsageError(
            f"{directory / existing[0]} exists already",
            hint="edit it (see .deliver.example), or replace it with deliver init --force",
        )
    project = detect_project(directory)
    path = directory / CONFIG_NAME
    path.write_text(config_text(project, answers))
    try:
        load_config(path, environ={})
    except ConfigError:
        path.unlink()  # a config that does not load is worse than none
        raise
    out.step(f"Wrote {path} ({project.tool} project, app {project.app})")
    if ignore_store(directory):
        out.info(f"added /{STORE_DIR}/ to .gitignore")
    out.info("Next:")
    for command in (
        "deliver check config --hosts",
        "deliver build release",
        f"deliver deploy release to {answers.environment} --start-deploy",
    ):
        out.info(f"  {command}")
    return path


def ignore_store(directory: Path) -> bool:
    """Add the local store to .gitignore unless it is there; True when it was added."""
    gitignore = directory / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if f"/{STORE_DIR}/" in lines or f"{STORE_DIR}/" in lines:
        return False
    prefix = "" if not lines or gitignore.read_text().endswith("\n") else "\n"
    with gitignore.open("a") as file:
        file.write(f"{prefix}/{STORE_DIR}/\n")
    return True


def config_text(project: Project, answers: InitAnswers) -> str:
    deliver_to = answers.deliver_to or f"~/apps/{project.app}"
    hosts = "".join(f"      - {host}\n" for host in answers.hosts)
    release = (
        f"  release: {project.release:<12} # the umbrella's release to build\n"
        if project.release
        else ""
    )
    module = "".join(part.capitalize() for part in project.app.split("_"))
    return f"""\
# deliver's config for {project.app}, written by `deliver init`.
# Every key is documented in deliver's .deliver.example; `deliver check config` checks this.
app: {project.app}

build:
  host: {answers.build_host}   # same OS and CPU as the servers; `localhost` builds here
  at: ~/deliver-build/{project.app}
{release}  # tool: {project.tool:<15} # detected; one of mix, rebar3, distillery, custom
  # mix_env: prod         # MIX_ENV (rebar3: the profile) of the build

release_store: {STORE_DIR}   # or user@host:path, or s3://bucket/prefix

environments:
  {answers.environment}:
    hosts:
{hosts}    deliver_to: {deliver_to}
    # env:                # the node's environment on every host; ${{VAR}} comes from your shell
    #   PORT: "4000"

# keep_releases: 5        # releases kept on each host, for rollback
# health_check:           # after each restart the node must answer, and this URL return 2xx
#   url: http://127.0.0.1:{{PORT}}/health
# migrations:             # database migrations, run with the release's own code
#   up: {module}.Release.migrate()
# linked_files: [config/prod.secret.exs]   # from <deliver_to>/shared/, kept across releases
"""
