"""Build tools: one module per tool, each knowing how to build a release on the build host and
how to drive a node of that release on a deploy host.

Adding a tool is adding a module here and a line in TOOLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from deliver.config import BuildConfig
from deliver.errors import ConfigError


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


def detect_tool(project_dir: Path, build: BuildConfig, source: str) -> str:
    """The tool named in build.tool, or the one whose project file the app has."""
    if build.tool != "auto":
        return build.tool
    if (project_dir / "mix.exs").exists():
        return "mix"
    raise ConfigError(
        source, "build.tool", f"cannot detect the build tool: no mix.exs in {project_dir}"
    )


def build_tool(name: str) -> BuildTool:
    from deliver.tools import mix

    tools: dict[str, BuildTool] = {"mix": mix.MixTool()}
    return tools[name]


def node_commands(tool: str) -> NodeCommands:
    from deliver.tools import mix

    commands: dict[str, NodeCommands] = {"mix": mix.MixNode()}
    return commands[tool]
