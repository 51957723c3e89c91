"""The command line: parse edeliver's grammar, call one library function, map the outcome to
an exit status. Nothing below this module knows about click."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from deliver import __version__
from deliver.errors import ConfigError, ConnectionFailed, DeliverError, HostsFailed, UsageError
from deliver.output import Output

if TYPE_CHECKING:
    from deliver.commands.rollout import Rollout
    from deliver.config import Config


class ExitCode(IntEnum):
    """Documented in the README; CI pipelines rely on them."""

    OK = 0
    FAILED = 1  # a build, deploy or node operation failed
    USAGE = 2  # bad command line or .deliver file: nothing was done
    UNREACHABLE = 3  # a host could not be connected to (network, auth, host key)
    BUG = 70  # an unexpected error inside deliver (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C


@dataclass
class Context:
    out: Output
    config_path: Path | None = None
    overrides: dict[tuple[str, ...], Any] = field(default_factory=dict)
    sandbox_dir: Path = Path(".deliver-sandbox")

    def config(self) -> Config:
        from deliver.config.load import load_config

        config = load_config(self.config_path, overrides=self.overrides)
        self.out.secrets = config.secrets()
        return config


pass_context = click.make_pass_decorator(Context)
SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=SETTINGS)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="DELIVER_CONFIG",
    help="The .deliver file (default: ./.deliver).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show the output of remote commands.")
@click.option("--debug", is_flag=True, help="Show remote commands too, and tracebacks.")
@click.option("--color/--no-color", default=None, help="Force or disable colour.")
@click.version_option(__version__, "--version", prog_name="deliver")
@click.pass_context
def cli(
    ctx: click.Context, config_path: Path | None, verbose: bool, debug: bool, color: bool | None
) -> None:
    """Build, deploy and run Elixir and Erlang releases over SSH.

    \b
    Typical use:
      deliver build release
      deliver deploy release to production --start-deploy
      deliver ping production
    """
    context: Context = ctx.obj
    context.config_path = config_path
    context.out.verbose, context.out.debug = verbose or debug, debug
    if color is not None:
        context.out.color = color


def _host_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--host",
        "hosts",
        multiple=True,
        metavar="HOST",
        help="Only this host (repeatable, or comma-separated).",
    )(function)


def _rollout_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--rollback-on-failure",
        is_flag=True,
        help="Switch a batch that fails to start or its health check back, and restart it.",
    )(function)
    return click.option(
        "--batch",
        metavar="N|N%",
        help="Restart N hosts (or N% of them) at a time, each batch healthy before the next.",
    )(function)


def _rollout(batch: str | None, rollback_on_failure: bool) -> Rollout | None:
    from deliver.commands.rollout import BatchSize, Rollout

    if batch is None and not rollback_on_failure:
        return None
    return Rollout(None if batch is None else BatchSize.parse(batch), rollback_on_failure)


def _environment(words: Sequence[str], config: Config, required: bool) -> str:
    """edeliver's `[to] <env>`; without one, staging (or the only environment there is)."""
    words = [w for w in words if w != "to"] if words and words[0] == "to" else list(words)
    if len(words) > 1:
        raise UsageError(f"expected one environment, got: {' '.join(words)}")
    if words:
        return words[0]
    names = list(config.environments)
    if required:
        raise UsageError(
            "name the environment, e.g. `to production`",
            hint=f"configured: {', '.join(names) or 'none'}",
        )
    if "staging" in names or len(names) != 1:
        return "staging"
    return names[0]


# build -----------------------------------------------------------------------------------------


@cli.group(context_settings=SETTINGS)
def build() -> None:
    """Build a release on the build host into the release store."""


@build.command("release", context_settings=SETTINGS)
@click.option("--revision", help="Build this commit (sha or any git revision).")
@click.option("--tag", help="Build this tag.")
@click.option("--branch", help="Build the head of this branch (default: the current one).")
@click.option("--mix-env", help="MIX_ENV for the build (default: build.mix_env or prod).")
@click.option(
    "--auto-version",
    metavar="PARTS",
    help="Append to the version, joined by +: revision, commit-count, commit-count-branch, "
    "branch, branch-unless-main, date, time (default: build.auto_version).",
)
@click.option(
    "--increment-version",
    type=click.Choice(["major", "minor", "patch"]),
    help="Build the project's version with this part incremented.",
)
@click.option("--set-version", metavar="VERSION", help="Build with this version.")
@click.option("--clean", is_flag=True, help="Full rebuild: remove deps and _build first.")
@click.option("--skip-git-clean", is_flag=True, help="Keep untracked files in the build tree.")
@click.option("--skip-mix-clean", is_flag=True, help="Keep build.clean_paths (the last release).")
@click.option("--force", is_flag=True, help="Replace a stored release of the same version.")
@pass_context
def build_release(
    ctx: Context,
    revision: str | None,
    tag: str | None,
    branch: str | None,
    mix_env: str | None,
    auto_version: str | None,
    increment_version: str | None,
    set_version: str | None,
    clean: bool,
    skip_git_clean: bool,
    skip_mix_clean: bool,
    force: bool,
) -> None:
    """Push a revision to the build host, build the release there, and store it."""
    from deliver.build.tree import BuildOptions
    from deliver.build.versions import VersionOptions
    from deliver.commands.build import build_release as run

    if clean and skip_git_clean:
        raise UsageError("--clean and --skip-git-clean contradict each other")
    options = BuildOptions(
        clean=clean,
        git_clean=not skip_git_clean,
        remove_generated=not skip_mix_clean,
        force=force,
        versions=VersionOptions.parse(auto_version, increment_version, set_version),
    )
    ctx.overrides[("build", "mix_env")] = mix_env
    run(ctx.config(), ctx.out, revision=revision, tag=tag, branch=branch, options=options)


@build.command("upgrade", context_settings=SETTINGS)
@click.option("--from", "from_ref", metavar="REF", help="Build the old release from this ref.")
@click.option(
    "--with", "with_version", metavar="VERSION", help="Take the old release from the store."
)
@click.option("--to", "to_ref", metavar="REF", help="Build the new release from this ref.")
@click.option("--branch", help="The new release is this branch's head (default: the current one).")
@click.option("--mix-env", help="MIX_ENV (rebar3: profile) for the builds (default: prod).")
@pass_context
def build_upgrade(
    ctx: Context,
    from_ref: str | None,
    with_version: str | None,
    to_ref: str | None,
    branch: str | None,
    mix_env: str | None,
) -> None:
    """Build the hot upgrade from an old release to a new one, and store it.

    The relup is generated from the appups in rel/appups/<app>.appup (rebar3: also
    ebin/<app>.appup); an application without one gets a generated default appup.
    """
    from deliver.commands.build import build_upgrade as run

    ctx.overrides[("build", "mix_env")] = mix_env
    run(
        ctx.config(),
        ctx.out,
        from_ref=from_ref,
        with_version=with_version,
        to_ref=to_ref,
        branch=branch,
    )


# deploy ----------------------------------------------------------------------------------------


@cli.group(context_settings=SETTINGS)
def deploy() -> None:
    """Deploy a stored release to the hosts of an environment."""


@deploy.command("release", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="[to] ENVIRONMENT")
@click.option("--version", "version", help="The stored version (default: the newest).")
@click.option("--start-deploy", is_flag=True, help="Stop the old node and start the new one.")
@click.option(
    "--run-migrations", is_flag=True, help="Run the new release's migrations before switching."
)
@_rollout_options
@_host_option
@pass_context
def deploy_release(
    ctx: Context,
    target: tuple[str, ...],
    version: str | None,
    start_deploy: bool,
    run_migrations: bool,
    batch: str | None,
    rollback_on_failure: bool,
    hosts: tuple[str, ...],
) -> None:
    """Upload, extract and switch to a release on every host, in parallel."""
    from deliver.commands.deploy import deploy_release as run

    config = ctx.config()
    run(
        config,
        ctx.out,
        _environment(target, config, required=True),
        version=version,
        hosts=hosts,
        start=start_deploy,
        run_migrations=run_migrations,
        rollout=_rollout(batch, rollback_on_failure),
    )


@deploy.command("upgrade", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="[to] ENVIRONMENT")
@click.option("--version", "version", help="The stored upgrade's version (default: the newest).")
@_host_option
@pass_context
def deploy_upgrade(
    ctx: Context, target: tuple[str, ...], version: str | None, hosts: tuple[str, ...]
) -> None:
    """Hot-upgrade the running nodes: same OS process, state converted by code_change."""
    from deliver.commands.hot import deploy_upgrade as run

    config = ctx.config()
    run(
        config,
        ctx.out,
        _environment(target, config, required=True),
        version=version,
        hosts=hosts,
    )


@cli.command("downgrade", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="ENVIRONMENT")
@click.option("--version", "version", required=True, help="The version to go back to.")
@_host_option
@pass_context
def downgrade(ctx: Context, target: tuple[str, ...], version: str, hosts: tuple[str, ...]) -> None:
    """Hot-downgrade the running nodes to a version they were upgraded from."""
    from deliver.commands.hot import downgrade as run

    config = ctx.config()
    run(config, ctx.out, _environment(target, config, required=True), version=version, hosts=hosts)


@cli.command("upgrade", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="ENVIRONMENT")
@click.option("--to", "to_ref", metavar="REF", help="Upgrade to this ref (default: branch head).")
@click.option("--branch", help="Upgrade to this branch's head (default: the current one).")
@_host_option
@pass_context
def upgrade(
    ctx: Context,
    target: tuple[str, ...],
    to_ref: str | None,
    branch: str | None,
    hosts: tuple[str, ...],
) -> None:
    """Detect the running version, build (or reuse) the upgrade to the head, deploy it hot."""
    from deliver.commands.upgrade import upgrade as run

    config = ctx.config()
    run(
        config,
        ctx.out,
        _environment(target, config, required=True),
        to_ref=to_ref,
        branch=branch,
        hosts=hosts,
    )


# update ----------------------------------------------------------------------------------------


@cli.command("update", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="[to] ENVIRONMENT")
@click.option("--revision", help="Build this commit (sha or any git revision).")
@click.option("--tag", help="Build this tag.")
@click.option("--branch", help="Build the head of this branch (default: the current one).")
@click.option("--mix-env", help="MIX_ENV for the build (default: build.mix_env or prod).")
@click.option(
    "--start-deploy", is_flag=True, help="Restart on the new release and verify its version."
)
@click.option(
    "--run-migrations", is_flag=True, help="Run the new release's migrations before switching."
)
@_rollout_options
@_host_option
@pass_context
def update(
    ctx: Context,
    target: tuple[str, ...],
    revision: str | None,
    tag: str | None,
    branch: str | None,
    mix_env: str | None,
    start_deploy: bool,
    run_migrations: bool,
    batch: str | None,
    rollback_on_failure: bool,
    hosts: tuple[str, ...],
) -> None:
    """Build a release and deploy it (build release + deploy release)."""
    from deliver.commands.update import update as run

    ctx.overrides[("build", "mix_env")] = mix_env
    config = ctx.config()
    run(
        config,
        ctx.out,
        _environment(target, config, required=True),
        revision=revision,
        tag=tag,
        branch=branch,
        hosts=hosts,
        start=start_deploy,
        run_migrations=run_migrations,
        rollout=_rollout(batch, rollback_on_failure),
    )


# rollback and migrations -----------------------------------------------------------------------


@cli.command("rollback", context_settings=SETTINGS)
@click.argument("environment", nargs=-1, metavar="ENVIRONMENT")
@click.option("--version", help="Go back to this release (default: the previous good one).")
@_host_option
@pass_context
def rollback(
    ctx: Context, environment: tuple[str, ...], version: str | None, hosts: tuple[str, ...]
) -> None:
    """Switch every host back to an earlier release still on it, and restart."""
    from deliver.commands.rollback import rollback as run

    config = ctx.config()
    run(config, ctx.out, _environment(environment, config, True), version=version, hosts=hosts)


@cli.command("migrate", context_settings=SETTINGS)
@click.argument("words", nargs=-1, metavar="[ENVIRONMENT] [up|down]")
@click.option("--version", help="Migrate to this version (required for down).")
@pass_context
def migrate(ctx: Context, words: tuple[str, ...], version: str | None) -> None:
    """Run the app's migrations on the environment's primary host."""
    from deliver.commands.migrate import DIRECTIONS
    from deliver.commands.migrate import migrate as run

    config = ctx.config()
    named = [w for w in words if w != "to"]
    if len(named) > 1 and named[-1] not in DIRECTIONS:  # else "expected one environment"
        raise UsageError(f"migrate: unknown direction {words[-1]} (up or down)")
    direction = words[-1] if words and words[-1] in DIRECTIONS else "up"
    rest = words[:-1] if words and words[-1] in DIRECTIONS else words
    run(config, ctx.out, _environment(rest, config, False), direction, version)


# node control ----------------------------------------------------------------------------------


def _node_command(name: str, summary: str) -> None:
    @cli.command(name, help=summary, context_settings=SETTINGS)
    @click.argument("environment", nargs=-1, metavar="[ENVIRONMENT]")
    @_host_option
    @pass_context
    def command(ctx: Context, environment: tuple[str, ...], hosts: tuple[str, ...]) -> None:
        from deliver.commands import control

        config = ctx.config()
        getattr(control, name)(config, ctx.out, _environment(environment, config, False), hosts)


_node_command("start", "Start the deployed release; waits until the node answers.")
_node_command("stop", "Stop the running node; waits until it is gone.")


@cli.command("restart", context_settings=SETTINGS)
@click.argument("environment", nargs=-1, metavar="[ENVIRONMENT]")
@_rollout_options
@_host_option
@pass_context
def restart(
    ctx: Context,
    environment: tuple[str, ...],
    batch: str | None,
    rollback_on_failure: bool,
    hosts: tuple[str, ...],
) -> None:
    """Stop the node, then start the current release (in batches with --batch)."""
    from deliver.commands.rollout import restart as run

    config = ctx.config()
    rollout = _rollout(batch, rollback_on_failure)
    run(config, ctx.out, _environment(environment, config, False), hosts, rollout)


_node_command("ping", "Check that the node answers on each host.")
_node_command("version", "Print the version each node is running.")


# show / check ----------------------------------------------------------------------------------


@cli.group(context_settings=SETTINGS)
def show() -> None:
    """Show the releases in the store or on the hosts, and the migration status."""


@show.command("releases", context_settings=SETTINGS)
@click.argument("environment", required=False)
@_host_option
@pass_context
def show_releases(ctx: Context, environment: str | None, hosts: tuple[str, ...]) -> None:
    """The releases in the store (version, commit, branch, build time, size) and the upgrades
    between them, or with ENVIRONMENT those on each of its hosts."""
    config = ctx.config()
    if environment is not None:
        from deliver.commands.rollback import show_host_releases

        show_host_releases(config, ctx.out, environment, hosts)
        return
    from deliver.commands.store import show_releases as run

    run(config, ctx.out)


@show.command("migrations", context_settings=SETTINGS)
@click.argument("environment", nargs=-1, metavar="[ENVIRONMENT]")
@pass_context
def show_migrations(ctx: Context, environment: tuple[str, ...]) -> None:
    """The migration status, from the environment's primary host."""
    from deliver.commands.migrate import show_migrations as run

    config = ctx.config()
    run(config, ctx.out, _environment(environment, config, False))


@show.command("relup", context_settings=SETTINGS)
@click.argument("version")
@pass_context
def show_relup(ctx: Context, version: str) -> None:
    """Print the relup (release handler instructions) of the stored upgrade to VERSION."""
    from deliver.commands.build import show_relup as run

    run(ctx.config(), ctx.out, version)


# release store ---------------------------------------------------------------------------------

_LOCAL_DIR_HELP = "The local directory (default: .deliver-releases beside the .deliver file)."


@cli.group(context_settings=SETTINGS)
def upload() -> None:
    """Copy a release from a local directory into the remote or S3 release store."""


@upload.command("release", context_settings=SETTINGS)
@click.argument("version", required=False)
@click.option("--dir", "local_dir", type=click.Path(path_type=Path), help=_LOCAL_DIR_HELP)
@click.option("--force", is_flag=True, help="Replace a different build of the same version.")
@pass_context
def upload_release(ctx: Context, version: str | None, local_dir: Path | None, force: bool) -> None:
    """Upload VERSION (default: the newest local one) to the configured release store."""
    from deliver.commands.store import upload_release as run

    run(ctx.config(), ctx.out, version, local_dir=local_dir, force=force)


@cli.group(context_settings=SETTINGS)
def download() -> None:
    """Copy a release from the remote or S3 release store into a local directory."""


@download.command("release", context_settings=SETTINGS)
@click.argument("version", required=False)
@click.option("--dir", "local_dir", type=click.Path(path_type=Path), help=_LOCAL_DIR_HELP)
@click.option("--force", is_flag=True, help="Replace a different build of the same version.")
@pass_context
def download_release(
    ctx: Context, version: str | None, local_dir: Path | None, force: bool
) -> None:
    """Download VERSION (default: the newest) from the release store, checking its sha256."""
    from deliver.commands.store import download_release as run

    run(ctx.config(), ctx.out, version, local_dir=local_dir, force=force)


@cli.group(context_settings=SETTINGS)
def prune() -> None:
    """Remove old releases."""


@prune.command("releases", context_settings=SETTINGS)
@click.option(
    "--keep", type=click.IntRange(min=1), required=True, help="How many of the newest to keep."
)
@pass_context
def prune_releases(ctx: Context, keep: int) -> None:
    """Delete all but the KEEP newest releases from the release store."""
    from deliver.commands.store import prune_releases as run

    run(ctx.config(), ctx.out, keep)


@cli.group(context_settings=SETTINGS)
def check() -> None:
    """Check the configuration."""


@check.command("config", context_settings=SETTINGS)
@pass_context
def check_config(ctx: Context) -> None:
    """Validate the .deliver file and print what it resolves to."""
    config = ctx.config()
    ctx.out.step(f"{config.source} is valid")
    ctx.out.info(f"app: {config.app}")
    if config.build:
        ctx.out.info(
            f"build: {config.build.host.name}:{config.build.at} "
            f"(tool {config.build.tool}, MIX_ENV={config.build.mix_env})"
        )
    ctx.out.info(f"release store: {config.release_store}")
    for env in config.environments.values():
        hosts = ", ".join(h.name for h in env.hosts)
        ctx.out.info(f"{env.name}: {hosts} -> {env.deliver_to}")
    from deliver.hooks import Hooks

    for point, hooks in Hooks.load(config, ctx.out).by_point.items():
        for hook in hooks:
            ctx.out.info(f"hook {point}: {hook.name} (runs on {hook.runs_on})")


# sandbox ---------------------------------------------------------------------------------------


@cli.group(context_settings=SETTINGS)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("DELIVER_SANDBOX", ".deliver-sandbox"),
    show_default=".deliver-sandbox",
    help="Where the sandbox keeps its state.",
)
@click.pass_context
def sandbox(ctx: click.Context, directory: Path) -> None:
    """Local SSH hosts on loopback (real sshd processes) to try deliver on."""
    ctx.obj.sandbox_dir = directory


@sandbox.command("up", context_settings=SETTINGS)
@click.option("--targets", default=2, show_default=True, help="Number of target hosts.")
@click.option("--store", is_flag=True, help="Add a host `store` for a release store over SSH.")
@click.pass_context
def sandbox_up(ctx: click.Context, targets: int, store: bool) -> None:
    """Start a build host and TARGETS target hosts (replacing a running sandbox)."""
    from deliver.sandbox import start_sandbox

    out: Output = ctx.obj.out
    box = start_sandbox(ctx.obj.sandbox_dir, targets, store=store)
    out.step(f"Sandbox running in {box.root}")
    for host in box.hosts:
        out.info(
            f"  {host.name:8} ssh port {host.port}  app PORT {host.app_port}  home {host.home}"
        )
    out.info(f"ssh -F {box.ssh_config} web1    # to look around")


@sandbox.command("config", context_settings=SETTINGS)
@click.option("--app", required=True, help="The release name to put in the .deliver.")
@click.pass_context
def sandbox_config(ctx: click.Context, app: str) -> None:
    """Print a .deliver that builds on the sandbox's build host and deploys to its targets."""
    from deliver.sandbox import load_sandbox

    box = load_sandbox(ctx.obj.sandbox_dir)
    if box is None:
        # `sandbox up` in one directory and `config` in the app's repo is the usual slip
        raise UsageError(
            f"no sandbox in {ctx.obj.sandbox_dir}",
            hint="start one with `deliver sandbox up`, or name the one you started elsewhere: "
            "deliver sandbox --dir DIR config ... (or DELIVER_SANDBOX=DIR)",
        )
    store = f"{box.store_host.name}:releases" if box.store_host else None
    click.echo(box.deliver_config(app, release_store=store), nl=False)


@sandbox.command("down", context_settings=SETTINGS)
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop every sshd and every node the sandbox started."""
    from deliver.sandbox import stop_sandbox

    count = stop_sandbox(ctx.obj.sandbox_dir)
    ctx.obj.out.step(f"Sandbox stopped ({count} processes)")


# entry point -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None, out: Output | None = None) -> int:
    """Run the CLI and return its exit status (tests call this in-process)."""
    argv = _global_flags_first(list(argv) if argv is not None else sys.argv[1:])
    debug = "--debug" in argv
    context = Context(out or Output())
    fallback = context.out
    try:
        cli.main(args=argv, prog_name="deliver", standalone_mode=False, obj=context)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return ExitCode.USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        fallback.error("interrupted")
        return ExitCode.INTERRUPTED
    except DeliverError as error:
        if debug:
            import traceback

            from deliver.shell import mask

            # a traceback quotes messages and values that may hold a secret
            sys.stderr.write(mask(traceback.format_exc(), fallback.secrets))
        fallback.error(str(error), error.hint)
        return _exit_code(error)
    except Exception:
        if debug:
            raise
        fallback.error(
            "unexpected error: this is a bug in deliver",
            "run the command again with --debug to see the traceback, and report it",
        )
        return ExitCode.BUG
    return ExitCode.OK


_GLOBAL_FLAGS = {"-v", "--verbose", "--debug", "--color", "--no-color"}


def _global_flags_first(argv: list[str]) -> list[str]:
    """Accept `deliver build release --verbose` as well as `deliver --verbose build release`."""
    front: list[str] = []
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            rest += [word, *words]
        elif word in _GLOBAL_FLAGS or word.startswith("--config="):
            front.append(word)
        elif word == "--config":
            front += [word, next(words, "")]
        else:
            rest.append(word)
    return front + rest


def _exit_code(error: DeliverError) -> ExitCode:
    if isinstance(error, ConfigError | UsageError):
        return ExitCode.USAGE
    if isinstance(error, ConnectionFailed):
        return ExitCode.UNREACHABLE
    if isinstance(error, HostsFailed) and all(
        isinstance(e, ConnectionFailed) for e in error.errors.values()
    ):
        return ExitCode.UNREACHABLE
    return ExitCode.FAILED
