"""Build tools: one module per tool, each knowing how to build a release on the build host and
how to drive a node of that release on a deploy host.

Adding a tool is adding a module here and a line in each registry below. Hot upgrades are
optional: a tool that supports them also implements `UpgradeBuilder` (build side) and
`HotUpgrades` (host side), and is listed in `upgrade_builder` / `hot_upgrades`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from deliver.config import BuildConfig
from deliver.errors import ConfigError, UsageError


@dataclass(frozen=True)
class BuildStep:
    title: str
    command: str


class BuildTool(Protocol):
    name: str

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        """Commands run in the build directory, in order: deps, compile, release."""
        ...

    def release_root(self, app: str, build: BuildConfig) -> str:
        """The assembled release, relative to the build directory."""
        ...


class NodeCommands(Protocol):
    """Shell commands that drive a node, run from the release root on a deploy host."""

    def daemon(self, app: str) -> str: ...

    def alive(self, app: str) -> str:
        """Exits 0 and prints the OS pid only when the app is started on the node."""
        ...

    def stop(self, app: str) -> str: ...

    def running_version(self, app: str) -> str: ...

    def rpc(self, app: str, expression: str) -> str:
        """Evaluate `expression` inside the running node; exits non-zero if it raises."""
        ...

    def eval(self, app: str, expression: str) -> str:
        """Evaluate `expression` in a fresh VM of this release (its code loaded, apps not
        started), without connecting to a running node."""
        ...

    def log_files(self) -> str: ...


#: Where upgrades are put together, relative to the build directory (under the git-ignored _build).
UPGRADE_DIR = "_build/deliver-upgrade"


@dataclass(frozen=True)
class UpgradeWork:
    """An upgrade being built: absolute paths on the build host, and the two versions."""

    dir: str
    old: str
    new: str
    #: the appups in place, relative to the tool's upgrade_root: lib/<app>-<vsn>/ebin/<app>.appup
    appups: tuple[str, ...] = ()

    @property
    def escript(self) -> str:
        return f"{self.dir}/upgrade.escript"

    @property
    def old_archive(self) -> str:
        return f"{self.dir}/old.tar.gz"

    @property
    def new_archive(self) -> str:
        return f"{self.dir}/new.tar.gz"

    @property
    def upgrade_archive(self) -> str:
        return f"{self.dir}/upgrade.tar.gz"


class UpgradeBuilder(Protocol):
    """Turns two built releases into an upgrade package on the build host."""

    def upgrade_root(self, app: str, build: BuildConfig) -> str:
        """Where the new release is (or is unpacked) with the old one unpacked beside it,
        relative to the build directory."""
        ...

    def relup_steps(self, app: str, build: BuildConfig, work: UpgradeWork) -> list[BuildStep]:
        """Commands run in the build directory once the appups are in place: they write the
        relup and leave the upgrade archive at `work.upgrade_archive`."""
        ...


class HotUpgrades(Protocol):
    """Shell commands that install a release into a running node through the release handler,
    run from the root the node was started from, with the host's env file loaded."""

    def stage_upgrade(self, app: str, archive: str, version: str) -> str:
        """Put the files of the upgrade `archive` (absolute path) where `install` expects them,
        never overwriting a file the running release uses."""
        ...

    def install(self, app: str, version: str, upgrade: bool) -> str:
        """Switch the running node to `version` (an upgrade, or a downgrade to an installed
        older one) and make it permanent; prints INSTALLED=<version> and exits 0 on success."""
        ...


def detect_tool(project_dir: Path, build: BuildConfig, source: str) -> str:
    """The tool named in build.tool, or the one whose project file the app has."""
    if build.tool != "auto":
        return build.tool
    if (project_dir / "mix.exs").exists():
        return "mix"
    if (project_dir / "rebar.config").exists():
        return "rebar3"
    raise ConfigError(
        source,
        "build.tool",
        f"cannot detect the build tool: no mix.exs or rebar.config in {project_dir}",
    )


def build_tool(name: str) -> BuildTool:
    from deliver.tools import mix, rebar3

    tools: dict[str, BuildTool] = {"mix": mix.MixTool(), "rebar3": rebar3.Rebar3Tool()}
    return tools[name]


def node_commands(tool: str) -> NodeCommands:
    from deliver.tools import mix, rebar3

    commands: dict[str, NodeCommands] = {"mix": mix.MixNode(), "rebar3": rebar3.Rebar3Node()}
    return commands[tool]


def upgrade_builder(tool: str) -> UpgradeBuilder:
    """The tool's upgrade builder; UsageError for a tool that cannot build hot upgrades."""
    from deliver.tools import mix, rebar3

    builders: dict[str, UpgradeBuilder] = {"mix": mix.MixTool(), "rebar3": rebar3.Rebar3Tool()}
    if tool not in builders:
        raise UsageError(f"the {tool} build tool cannot build hot upgrades")
    return builders[tool]


def hot_upgrades(tool: str) -> HotUpgrades:
    """How nodes built with `tool` are hot-upgraded; UsageError for a tool that cannot be."""
    from deliver.tools import mix, rebar3

    nodes: dict[str, HotUpgrades] = {"mix": mix.MixNode(), "rebar3": rebar3.Rebar3Node()}
    if tool not in nodes:
        raise UsageError(f"releases built with {tool} cannot be hot-upgraded")
    return nodes[tool]
