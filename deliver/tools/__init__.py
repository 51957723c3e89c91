"""Build tools: one module per tool, each knowing how to build a release on the build host and
how to drive a node of that release on a deploy host.

Adding a tool is adding a module here that defines `TOOL` (a BuildTool) and, when its releases
have a start script of their own, `NODE` (NodeCommands). `build.tool` accepts every module
name, and `auto` picks the tool whose `detect` scores highest for the project.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from deliver.errors import ConfigError, DeliverError

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


def available_tools() -> list[str]:
    """Every tool module's name (without importing them)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def detect_tool(project_dir: Path, build: BuildConfig, source: str) -> str:
    """The tool named in build.tool, or the one that recognises the project most specifically."""
    if build.tool != "auto":
        return build.tool
    scores = {name: build_tool(name).detect(project_dir) for name in available_tools()}
    best = max(scores, key=lambda name: scores[name])
    if scores[best] <= 0:
        raise ConfigError(
            source,
            "build.tool",
            f"cannot detect the build tool in {project_dir} (no mix.exs): set build.tool",
        )
    return best


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
