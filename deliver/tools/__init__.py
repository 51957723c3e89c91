"""Build tools: one module per tool, each knowing how to build a release on the build host and
how to drive a node of that release on a deploy host.

Adding a tool is adding a module here that defines `TOOL` (a BuildTool) and, when its releases
have a start script of their own, `NODE` (NodeCommands). `build.tool` accepts every module
name, and `auto` picks the tool whose `detect` scores highest for the project.
Hot upgrades are optional: a tool module that supports them also defines `UPGRADE` (an
UpgradeBuilder, build side) and its node module `HOT` (HotUpgrades, host side).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from deliver.errors import ConfigError, DeliverError, UsageError

if TYPE_CHECKING:
    from deliver.config import BuildConfig


@dataclass(frozen=True)
class BuildStep:
    """One command run in the build directory; `hook` names the hook points around it
    (`erlang_clean_compile` fires pre_erlang_clean_compile before, post_... after)."""

    title: str
    command: str
    hook: str | None = None


@dataclass(frozen=True)
class VersionSource:
    """Where a project keeps its version: a file of the repo and a regex whose first group is
    the version. The first source that matches is the one read and patched."""

    path: str
    pattern: str


class BuildTool(Protocol):
    name: str

    def detect(self, project_dir: Path) -> int:
        """How specific a match the project is for this tool: 0 for none (then higher wins)."""
        ...

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        """Commands run in the build directory, in order: deps, compile, release."""
        ...

    def release_root(self, app: str, build: BuildConfig) -> str | None:
        """The assembled release, relative to the build directory (None: see release_tarball)."""
        ...

    def release_tarball(self, app: str, build: BuildConfig) -> str | None:
        """A tarball of the release root made by the tool (`*` globs one path segment), used
        instead of packing release_root; None when the tool makes none."""
        ...

    def version_sources(self, build: BuildConfig) -> tuple[VersionSource, ...]:
        """Where --set-version / --increment-version / --auto-version patch the build tree."""
        ...

    def node_tool(self, build: BuildConfig) -> str:
        """The tool whose NodeCommands drive the releases this tool builds (the manifest's
        `tool`): usually itself."""
        ...


class NodeCommands(Protocol):
    """Shell commands that drive a node, run from the release root on a deploy host."""

    def prepare(self, app: str) -> str:
        """Shell run in the release root before every start, under any service manager
        (`daemon` runs it itself): what the release needs on the host to run."""
        ...

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

    def log_files(self) -> str:
        """The daemon's (run_erl's) log files, a glob relative to the log directory."""
        ...

    def log_to(self, log_dir: str) -> str:
        """Shell run in the release root before `daemon`: its logs then go to `log_dir` (a
        quoted shell word: an existing absolute directory kept across releases)."""
        ...

    def foreground(self, app: str) -> str:
        """The start script's command that runs the node in the foreground, for a service
        manager (relative to the release root)."""
        ...


class NodeAddress(Protocol):
    """Where a release's node is found on its Erlang distribution, for deliver to ask it
    directly (host/dist.py) instead of booting a VM through the start script."""

    def node_address(self, app: str) -> str:
        """Shell, run in the release root with the host's env file loaded, resolving what the
        start script would: prints `DIST=sname|name|none`, `NODE=<name>` (as configured,
        with or without @host), `DIST_PORT=<port>` when the node listens on a fixed port
        without epmd, then a `COOKIE-FOLLOWS` line and the cookie."""
        ...

    #: The language of expressions (migrations) for the node: "elixir" or "erlang".
    language: str

    #: Code in that language, evaluated inside the node with `expr` (Elixir) or `Expr`
    #: (Erlang) bound to the user's expression as a string: it evaluates it and returns
    #: `{ok, Output}` or `{{error, Text}, Output}`, Output (a binary) what it printed.
    captured_eval: str


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

    def check_install(self, app: str, version: str) -> str:
        """Once staged: make the release handler know `version` (unpacked), check that its
        relup has an entry for the version the node runs and that
        `release_handler:check_install_release/1` succeeds, changing nothing the node runs;
        prints CHECKED=<version> and exits 0 when it can be installed."""
        ...

    def install(self, app: str, version: str, upgrade: bool) -> str:
        """Switch the running node to `version` (an upgrade, or a downgrade to an installed
        older one) and make it permanent; prints INSTALLED=<version> and exits 0 on success."""
        ...

    def install_code(self, app: str, version: str) -> str | None:
        """`install`'s work as an expression the node evaluates itself (in the language of
        the tool's NodeAddress), printing INSTALLED=<version> on success: deliver sends it
        over the node's distribution instead of booting a VM (`bin/<app> rpc`) to pass it
        on. None: only `install` can."""
        ...

    def check_code(self, app: str, version: str) -> str | None:
        """The same for `check_install` once the files are staged: prints CHECKED=<version>
        when the release can be installed."""
        ...

    def restart_codes(self, app: str, version: str) -> tuple[str, str] | None:
        """For a relup that restarts the emulator: the install without make_permanent (the
        node answers, then reboots into `version`) and the make_permanent the NEW node
        evaluates once it answers, printing PERMANENT=<version>. None: deliver cannot
        restart this tool's nodes into a new emulator."""
        ...


def available_tools() -> list[str]:
    """Every tool module's name (without importing them)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def detect_tool(project_dir: Path, build: BuildConfig, source: str) -> str:
    """The tool named in build.tool, or the one that recognises the project most specifically."""
    if build.tool != "auto":
        return build.tool
    best = detected_tool(project_dir)
    if best is None:
        raise ConfigError(
            source,
            "build.tool",
            f"cannot detect the build tool in {project_dir} (no mix.exs or rebar.config): "
            "set build.tool",
        )
    return best


def detected_tool(project_dir: Path) -> str | None:
    """The tool that recognises the project most specifically; None when none does."""
    scores = {name: build_tool(name).detect(project_dir) for name in available_tools()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] > 0 else None


def build_tool(name: str) -> BuildTool:
    tool: BuildTool = _module(name).TOOL
    return tool


def node_commands(tool: str) -> NodeCommands:
    module = _module(tool)
    if not hasattr(module, "NODE"):
        raise DeliverError(f"{tool} releases have no start script deliver knows how to drive")
    commands: NodeCommands = module.NODE
    return commands


def _module(name: str) -> ModuleType:
    if name not in available_tools():
        raise DeliverError(f"unknown build tool {name!r} (known: {', '.join(available_tools())})")
    return importlib.import_module(f"{__name__}.{name}")


def node_address(tool: str) -> NodeAddress | None:
    """How a node of `tool`'s releases is found on its distribution; None: only through its
    start script."""
    address: NodeAddress | None = getattr(_module(tool), "DIST", None)
    return address


def upgrade_builder(tool: str) -> UpgradeBuilder:
    """The tool's upgrade builder; UsageError for a tool that cannot build hot upgrades."""
    module = _module(tool)
    if not hasattr(module, "UPGRADE"):
        raise UsageError(f"the {tool} build tool cannot build hot upgrades")
    builder: UpgradeBuilder = module.UPGRADE
    return builder


def hot_upgrades(tool: str) -> HotUpgrades:
    """How nodes of `tool`'s releases are hot-upgraded; UsageError for a tool that cannot be."""
    module = _module(tool)
    if not hasattr(module, "HOT"):
        raise UsageError(f"releases built with {tool} cannot be hot-upgraded")
    hot: HotUpgrades = module.HOT
    return hot
