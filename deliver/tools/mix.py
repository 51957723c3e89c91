"""Elixir's built-in `mix release` (Elixir >= 1.9).

Never calls `mix local.hex` / `mix local.rebar`: they download, and apps without hex
dependencies build offline without them.
"""

from __future__ import annotations

from deliver.config import BuildConfig
from deliver.shell import quote
from deliver.tools import BuildStep


class MixTool:
    name = "mix"

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        return [
            BuildStep("Fetching dependencies", "mix deps.get"),
            BuildStep("Compiling", "mix compile"),
            # --overwrite: without it mix asks, and on EOF silently keeps the OLD release
            BuildStep("Generating release", f"mix release {quote(app)} --overwrite"),
        ]

    def release_root(self, app: str, build: BuildConfig) -> str:
        return f"_build/{build.mix_env}/rel/{app}"


class MixNode:
    """mix's start script: `daemon` starts in the background, `pid` answers when the node is up."""

    def daemon(self, app: str) -> str:
        return f"bin/{quote(app)} daemon"

    def alive(self, app: str) -> str:
        # `pid` answers while the VM boots, before (and even if never) the app starts: a node
        # is up when its application is started, and then this prints the OS pid
        check = (
            f"if List.keymember?(Application.started_applications(), :{app}, 0), "
            f'do: IO.puts(System.pid()), else: raise "{app} is not started"'
        )
        return f"bin/{quote(app)} rpc {quote(check)}"

    def stop(self, app: str) -> str:
        return f"bin/{quote(app)} stop"

    def running_version(self, app: str) -> str:
        return f"bin/{quote(app)} rpc {quote(f'IO.puts(Application.spec(:{app}, :vsn))')}"

    def rpc(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} rpc {quote(expression)}"

    def eval(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} eval {quote(expression)}"

    def log_files(self) -> str:
        return "tmp/log/erlang.log.*"
