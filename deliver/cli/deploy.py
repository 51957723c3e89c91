"""Commands that change what the hosts run: deploy, upgrade, downgrade, update, rollback,
migrate."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import click

from deliver.cli.completion import complete_environments, complete_versions
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import (
    build_options,
    build_options_from,
    environment_name,
    host_option,
    one_revision,
    rollout_from,
    rollout_options,
)
from deliver.config.model import Overrides
from deliver.errors import UsageError

if TYPE_CHECKING:
    from deliver.commands.hot import Canary
    from deliver.commands.schedule import Rollout


class _DeployGroup(click.Group):
    """`deliver deploy production` is the usual slip: say which two commands were meant."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            words = " ".join(args)
            raise UsageError(
                f"deploy what? expected release or upgrade, got {args[0]!r}",
                hint=f"deliver deploy release to {words}, or deliver deploy upgrade to {words}",
            )
        return super().resolve_command(ctx, args)


@cli.group(cls=_DeployGroup, context_settings=SETTINGS)
def deploy() -> None:
    """Deploy a stored release to the hosts of an environment."""


@deploy.command("release", context_settings=SETTINGS)
@click.argument(
    "target", nargs=-1, metavar="[to] ENVIRONMENT", shell_complete=complete_environments
)
@click.option(
    "--version",
    "version",
    help="The stored version (default: the newest).",
    shell_complete=complete_versions,
)
@click.option("--start-deploy", is_flag=True, help="Stop the old node and start the new one.")
@click.option(
    "--run-migrations", is_flag=True, help="Run the new release's migrations before switching."
)
@click.option(
    "--no-revert",
    is_flag=True,
    help="When some hosts fail, leave every host as the failure found it (default: the "
    "switched hosts go back and restart what they ran).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace another build of this version on the hosts (not under a running node).",
)
@rollout_options
@host_option
@pass_context
def deploy_release(
    ctx: Context,
    target: tuple[str, ...],
    version: str | None,
    start_deploy: bool,
    run_migrations: bool,
    no_revert: bool,
    force: bool,
    batch: str | None,
    all_at_once: bool,
    rollback_on_failure: bool | None,
    hosts: tuple[str, ...],
) -> None:
    """Upload, extract and switch to a release on every host, in parallel; with
    --start-deploy, restart batch by batch (see rollout: in .deliver).

    Hosts that already run the release are left alone, so the same command run again after
    a failure or a Ctrl-C finishes the job. The first Ctrl-C lets the step in flight finish
    and starts nothing new; a second one abandons it. Either way, and after any failure,
    deliver prints what each host runs and the command that finishes or undoes the deploy."""
    from deliver.commands.deploy import deploy_release as run

    config = ctx.config()
    environment = environment_name(target, config, required=True)
    rollout = rollout_from(batch, rollback_on_failure, all_at_once, start_deploy)
    if ctx.dry_run:
        dry_run(ctx, "deploy", environment, hosts, version, start_deploy, run_migrations, rollout)
        return
    run(
        config,
        ctx.out,
        environment,
        version=version,
        hosts=hosts,
        start=start_deploy,
        run_migrations=run_migrations,
        rollout=rollout,
        force=force,
        revert=not no_revert,
    )


_canary_option = click.option(
    "--canary",
    "canary",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[=HOST]",
    help="Upgrade one host first (HOST, default the first), check its version and health, "
    "then the others; if it fails it is downgraded and no other node switches.",
)


def _canary(value: str | None) -> Canary | None:
    from deliver.commands.hot import Canary

    return None if value is None else Canary(value or None)


@deploy.command("upgrade", context_settings=SETTINGS)
@click.argument(
    "target", nargs=-1, metavar="[to] ENVIRONMENT", shell_complete=complete_environments
)
@click.option("--version", "version", help="The stored upgrade's version (default: the newest).")
@_canary_option
@host_option
@pass_context
def deploy_upgrade(
    ctx: Context,
    target: tuple[str, ...],
    version: str | None,
    canary: str | None,
    hosts: tuple[str, ...],
) -> None:
    """Hot-upgrade the running nodes: same OS process, state converted by code_change."""
    from deliver.commands.hot import deploy_upgrade as run

    config = ctx.config()
    if ctx.dry_run:
        dry_run(ctx, "deploy upgrade", environment_name(target, config, True), hosts, version)
        return
    run(
        config,
        ctx.out,
        environment_name(target, config, required=True),
        version=version,
        hosts=hosts,
        canary=_canary(canary),
    )


@cli.command("downgrade", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="ENVIRONMENT", shell_complete=complete_environments)
@click.option("--version", "version", required=True, help="The version to go back to.")
@host_option
@pass_context
def downgrade(ctx: Context, target: tuple[str, ...], version: str, hosts: tuple[str, ...]) -> None:
    """Hot-downgrade the running nodes to a version they were upgraded from."""
    from deliver.commands.hot import downgrade as run

    config = ctx.config()
    if ctx.dry_run:
        dry_run(ctx, "downgrade", environment_name(target, config, True), hosts, version)
        return
    run(
        config,
        ctx.out,
        environment_name(target, config, required=True),
        version=version,
        hosts=hosts,
    )


@cli.command("upgrade", context_settings=SETTINGS)
@click.argument("target", nargs=-1, metavar="ENVIRONMENT", shell_complete=complete_environments)
@click.option("--to", "to_ref", metavar="REF", help="Upgrade to this ref (default: branch head).")
@click.option("--branch", help="Upgrade to this branch's head (default: the current one).")
@_canary_option
@click.option(
    "--force", is_flag=True, help="Replace a different stored build of a version it builds."
)
@click.option(
    "--fallback",
    type=click.Choice(["restart"]),
    help="When the change cannot be hot (or hot_upgrade.policy says so): restart into the new "
    "release, batch by batch, health-checked.",
)
@host_option
@pass_context
def upgrade(
    ctx: Context,
    target: tuple[str, ...],
    to_ref: str | None,
    branch: str | None,
    canary: str | None,
    force: bool,
    fallback: str | None,
    hosts: tuple[str, ...],
) -> None:
    """Detect the running version, build (or reuse) the upgrade to the head, deploy it hot."""
    from deliver.commands.upgrade import upgrade as run

    config = ctx.config()
    if ctx.dry_run:
        env = environment_name(target, config, True)
        dry_run(ctx, "upgrade", env, hosts, build=(to_ref, None, branch))
        return
    run(
        config,
        ctx.out,
        environment_name(target, config, required=True),
        to_ref=to_ref,
        branch=branch,
        hosts=hosts,
        canary=_canary(canary),
        force=force,
        fallback=fallback,
    )


@cli.command("update", context_settings=SETTINGS)
@click.argument(
    "target", nargs=-1, metavar="[to] ENVIRONMENT", shell_complete=complete_environments
)
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
@build_options
@rollout_options
@host_option
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
    auto_version: str | None,
    increment_version: str | None,
    set_version: str | None,
    clean: bool,
    skip_git_clean: bool,
    skip_mix_clean: bool,
    force: bool,
    batch: str | None,
    all_at_once: bool,
    rollback_on_failure: bool | None,
    hosts: tuple[str, ...],
) -> None:
    """Build a release and deploy it (build release + deploy release)."""
    from deliver.commands.update import update as run

    one_revision(revision, tag)
    options = build_options_from(
        auto_version, increment_version, set_version, clean, skip_git_clean, skip_mix_clean, force
    )
    ctx.overrides = replace(ctx.overrides or Overrides(), mix_env=mix_env)
    config = ctx.config()
    if ctx.dry_run:
        env = environment_name(target, config, required=True)
        rollout = rollout_from(batch, rollback_on_failure, all_at_once, start_deploy)
        build = (revision, tag, branch)
        dry_run(ctx, "update", env, hosts, None, start_deploy, run_migrations, rollout, build=build)
        return
    run(
        config,
        ctx.out,
        environment_name(target, config, required=True),
        revision=revision,
        tag=tag,
        branch=branch,
        hosts=hosts,
        start=start_deploy,
        run_migrations=run_migrations,
        rollout=rollout_from(batch, rollback_on_failure, all_at_once, start_deploy),
        options=options,
    )


@cli.command("rollback", context_settings=SETTINGS)
@click.argument(
    "environment", nargs=-1, metavar="ENVIRONMENT", shell_complete=complete_environments
)
@click.option("--version", help="Go back to this release (default: the previous good one).")
@rollout_options
@host_option
@pass_context
def rollback(
    ctx: Context,
    environment: tuple[str, ...],
    version: str | None,
    batch: str | None,
    all_at_once: bool,
    rollback_on_failure: bool | None,
    hosts: tuple[str, ...],
) -> None:
    """Switch every host back to an earlier release still on it, and restart batch by batch."""
    from deliver.commands.rollback import rollback as run

    config = ctx.config()
    if ctx.dry_run:
        rollout = rollout_from(batch, rollback_on_failure, all_at_once)
        env = environment_name(environment, config, True)
        dry_run(ctx, "rollback", env, hosts, version, rollout=rollout)
        return
    run(
        config,
        ctx.out,
        environment_name(environment, config, True),
        version=version,
        hosts=hosts,
        rollout=rollout_from(batch, rollback_on_failure, all_at_once),
    )


@cli.command("migrate", context_settings=SETTINGS)
@click.argument(
    "words", nargs=-1, metavar="[ENVIRONMENT] [up|down]", shell_complete=complete_environments
)
@click.option("--version", help="Migrate to this version (required for down).")
@pass_context
def migrate(ctx: Context, words: tuple[str, ...], version: str | None) -> None:
    """Run the app's migrations on the environment's primary host."""
    from deliver.commands.migrate import DIRECTIONS, DOWN_HINT, migration_version
    from deliver.commands.migrate import migrate as run

    if version is not None:  # refused before anything is read or reached
        migration_version(version)
    config = ctx.config()
    named = [w for w in words if w != "to"]
    if len(named) > 1 and named[-1] not in DIRECTIONS:  # else "expected one environment"
        raise UsageError(f"migrate: unknown direction {words[-1]} (up or down)")
    direction = words[-1] if words and words[-1] in DIRECTIONS else "up"
    rest = words[:-1] if words and words[-1] in DIRECTIONS else words
    if direction == "down" and version is None:
        raise UsageError(
            "migrate down needs --version: without one it would roll back every migration",
            hint=DOWN_HINT,
        )
    if ctx.dry_run:
        env = environment_name(rest, config, False)
        dry_run(ctx, "migrate", env, version=version, direction=direction)
        return
    run(config, ctx.out, environment_name(rest, config, False), direction, version)


def dry_run(
    ctx: Context,
    command: str,
    environment: str,
    hosts: tuple[str, ...] = (),
    version: str | None = None,
    start: bool = False,
    run_migrations: bool = False,
    rollout: Rollout | None = None,
    direction: str = "up",
    build: tuple[str | None, str | None, str | None] = (None, None, None),
) -> None:
    """--dry-run: what `command` would do (commands/dryrun.py), nothing changed; `build`
    is what update and upgrade would build: revision, tag, branch."""
    from deliver.commands.dryrun import DryRun
    from deliver.commands.dryrun import dry_run as run

    request = DryRun(
        command, environment, hosts, version, start, run_migrations, direction, rollout, *build
    )
    run(ctx.config(), ctx.out, request)
