"""`build.tool: custom`: the app brings its own build command (a script, make, a wrapper
around mix or rebar3) and says where it leaves the release: `release_dir` (an assembled
release root) or `tarball` (an archive of one). deliver still pushes, resets, runs the hooks,
sets the version, checks that the release is fresh and stores it.

The command runs as one step between pre_ and post_erlang_generate_release. When a version is
asked for (--set-version, --increment-version, --auto-version), mix.exs is patched if the
project has one, and the command also finds the version in $DELIVER_VERSION.
"""

from __future__ import annotations

from pathlib import Path

from deliver.config import BuildConfig, CustomBuild
from deliver.errors import ConfigError
from deliver.tools import BuildStep, BuildTool, VersionSource
from deliver.tools.mix import MIX_VERSION


class CustomTool:
    name = "custom"

    def detect(self, project_dir: Path) -> int:
        return 0  # chosen only by name

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        return [BuildStep("Building release", _custom(build).command, "erlang_generate_release")]

    def release_root(self, app: str, build: BuildConfig) -> str | None:
        return _expand(_custom(build).release_dir, app, build)

    def release_tarball(self, app: str, build: BuildConfig) -> str | None:
        return _expand(_custom(build).tarball, app, build)

    def version_sources(self, build: BuildConfig) -> tuple[VersionSource, ...]:
        return MIX_VERSION

    def node_tool(self, build: BuildConfig) -> str:
        return _custom(build).release_type


def _custom(build: BuildConfig) -> CustomBuild:
    if build.custom is None:
        raise ConfigError("build", "build.custom", "required with tool: custom")
    return build.custom


def _expand(path: str | None, app: str, build: BuildConfig) -> str | None:
    if path is None:
        return None
    values = {"{mix_env}": build.mix_env, "{app}": app, "{release}": build.release_name(app)}
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    return path


TOOL: BuildTool = CustomTool()
