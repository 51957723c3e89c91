"""Elixir's built-in `mix release` (Elixir >= 1.9).

Never calls `mix local.hex` / `mix local.rebar`: they download, and apps without hex
dependencies build offline without them.
"""

from __future__ import annotations

from pathlib import Path

from deliver.config import BuildConfig
from deliver.shell import quote
from deliver.tools import BuildStep, BuildTool, NodeCommands, VersionSource

#: mix.exs keeps the version as `version: "1.2.3"` in project/0, or in `@version "1.2.3"`
#: (then project/0 says `version: @version`, which the first pattern does not match).
MIX_VERSION = (
    VersionSource("mix.exs", r'\bversion:\s*"([^"]+)"'),
    VersionSource("mix.exs", r'@version\s+"([^"]+)"'),
)


class MixTool:
    name = "mix"

    def detect(self, project_dir: Path) -> int:
        return 1 if (project_dir / "mix.exs").exists() else 0

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        release = build.release_name(app)
        return [
            BuildStep("Fetching dependencies", "mix deps.get", "erlang_get_and_update_deps"),
            BuildStep("Compiling", "mix compile", "erlang_clean_compile"),
            # --overwrite: without it mix asks, and on EOF silently keeps the OLD release
            BuildStep(
                "Generating release",
                f"mix release {quote(release)} --overwrite",
                "erlang_generate_release",
            ),
        ]

    def release_root(self, app: str, build: BuildConfig) -> str:
        return f"_build/{build.mix_env}/rel/{build.release_name(app)}"

    def release_tarball(self, app: str, build: BuildConfig) -> None:
        return None

    def version_sources(self, build: BuildConfig) -> tuple[VersionSource, ...]:
        return MIX_VERSION

    def node_tool(self, build: BuildConfig) -> str:
        return self.name


class MixNode:
    """mix's start script: `daemon` starts in the background, `pid` answers when the node is up."""

    def daemon(self, app: str) -> str:
        return f"bin/{quote(app)} daemon"

    def alive(self, app: str) -> str:
        # `pid` answers while the VM boots, before (and even if never) the app starts: a node
        # is up when its boot script has finished and the app is started (an umbrella
        # release's name is no application: then the finished boot is enough), and then
        # this prints the OS pid
        check = (
            "if :init.get_status() == {:started, :started} and "
            f"(Application.spec(:{app}) == nil or "
            f"List.keymember?(Application.started_applications(), :{app}, 0)), "
            f'do: IO.puts(System.pid()), else: raise "{app} is not started"'
        )
        return f"bin/{quote(app)} rpc {quote(check)}"

    def stop(self, app: str) -> str:
        return f"bin/{quote(app)} stop"

    def running_version(self, app: str) -> str:
        version = f'Application.spec(:{app}, :vsn) || System.get_env("RELEASE_VSN")'
        return f"bin/{quote(app)} rpc {quote(f'IO.puts({version})')}"

    def rpc(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} rpc {quote(expression)}"

    def eval(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} eval {quote(expression)}"

    def log_files(self) -> str:
        return "tmp/log/erlang.log.*"


TOOL: BuildTool = MixTool()
NODE: NodeCommands = MixNode()
