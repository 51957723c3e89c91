"""Distillery 2.1 (`rel/config.exs`, `mix distillery.release`), for apps that have not moved
to `mix release` yet.

Distillery is a dependency of the app, so whether the build host has it is only known after
`mix deps.get` and `mix compile`: a check step then says so plainly instead of letting
`mix distillery.release` fail with "task could not be found". The release is shipped as the
tarball Distillery makes, `_build/<env>/rel/<release>/releases/<version>/<release>.tar.gz`.
"""

from __future__ import annotations

from pathlib import Path

from deliver.config import BuildConfig
from deliver.shell import quote
from deliver.tools import BuildStep, BuildTool, NodeCommands, VersionSource
from deliver.tools.mix import MIX_VERSION


class DistilleryTool:
    name = "distillery"

    def detect(self, project_dir: Path) -> int:
        # a mix project that also has Distillery's config is more specifically Distillery
        has_config = (project_dir / "rel" / "config.exs").exists()
        return 2 if has_config and (project_dir / "mix.exs").exists() else 0

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        release = build.release_name(app)
        missing = (
            "this project uses Distillery (rel/config.exs), but `mix distillery.release` is "
            'not available on the build host: add {:distillery, "~> 2.1", runtime: false} '
            "to the deps in mix.exs (mix deps.get must be able to fetch it), "
            "or set build.tool: mix to build with mix release"
        )
        check = (
            f"mix help distillery.release >/dev/null 2>&1 || {{ echo {quote(missing)}; exit 1; }}"
        )
        return [
            BuildStep("Fetching dependencies", "mix deps.get", "erlang_get_and_update_deps"),
            BuildStep("Compiling", "mix compile", "erlang_clean_compile"),
            BuildStep("Checking for Distillery", check),
            BuildStep(
                "Generating release",
                f"mix distillery.release --env={quote(build.mix_env)} --name={quote(release)}",
                "erlang_generate_release",
            ),
        ]

    def release_root(self, app: str, build: BuildConfig) -> None:
        return None

    def release_tarball(self, app: str, build: BuildConfig) -> str:
        release = build.release_name(app)
        return f"_build/{build.mix_env}/rel/{release}/releases/*/{release}.tar.gz"

    def version_sources(self, build: BuildConfig) -> tuple[VersionSource, ...]:
        return MIX_VERSION

    def node_tool(self, build: BuildConfig) -> str:
        return self.name


class DistilleryNode:
    """Distillery's start script: `start` runs a daemon; `rpc` evaluates Elixir in the node and
    prints the result with IO.inspect after the expression's own output."""

    def prepare(self, app: str) -> str:
        return ":"  # the release ships what its release handler needs

    def daemon(self, app: str) -> str:
        return f"bin/{quote(app)} start"

    def alive(self, app: str) -> str:
        check = (
            "if :init.get_status() == {:started, :started}, "
            f'do: IO.puts(System.pid()), else: raise "{app} is not started"'
        )
        return f"bin/{quote(app)} rpc {quote(check)}"

    def stop(self, app: str) -> str:
        return f"bin/{quote(app)} stop"

    def running_version(self, app: str) -> str:
        # rpc inspects the result ("0.1.0" in quotes): print the bare version as the last line
        expression = f"to_string(Application.spec(:{app}, :vsn))"
        return f'v=$(bin/{quote(app)} rpc {quote(expression)}) && echo "$v" | tr -d \'"\''

    def rpc(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} rpc {quote(expression)}"

    def eval(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} eval {quote(expression)}"

    def log_files(self) -> str:
        return "erlang.log.*"

    def log_to(self, log_dir: str) -> str:
        # Distillery's start script takes its run_erl log directory from RUNNER_LOG_DIR
        return f"export RUNNER_LOG_DIR={log_dir}"

    def foreground(self, app: str) -> str:
        return f"bin/{quote(app)} foreground"


TOOL: BuildTool = DistilleryTool()
NODE: NodeCommands = DistilleryNode()
