"""`deliver env diff|push ENV`: the env file of each host against `.deliver`."""

from __future__ import annotations

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import host_option, rollout_from, rollout_options
from deliver.errors import DeliverError, UsageError


@cli.group("env", context_settings=SETTINGS)
def env() -> None:
    """The env file of each host (deliver_to/deliver.env) against the env in .deliver."""


@env.command("diff", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@host_option
@pass_context
def env_diff(ctx: Context, environment: str, hosts: tuple[str, ...]) -> None:
    """Which variables differ between .deliver and each host (secret values are never
    shown); exit status 1 when any host differs, like diff."""
    from deliver.commands.env import env_diff as run

    found = run(ctx.config(), ctx.out, environment, hosts)
    for host, report in found.items():
        if report.in_sync:
            ctx.out.host_status(host, True, "as in .deliver")
        elif not report.has_file:
            ctx.out.host_status(host, False, "has no deliver.env")
        for change in report.changes:
            ctx.out.host_status(host, False, change.describe())
    differ = [host for host, report in found.items() if not report.in_sync]
    if differ:
        error = DeliverError(f"the env of {', '.join(differ)} differs from .deliver")
        error.hint = f"deliver env push {environment} writes the env of .deliver to them"
        raise error


@env.command("push", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.option("--restart", is_flag=True, help="Restart the nodes afterwards, batch by batch.")
@rollout_options
@host_option
@pass_context
def env_push(
    ctx: Context,
    environment: str,
    restart: bool,
    batch: str | None,
    all_at_once: bool,
    rollback_on_failure: bool | None,
    hosts: tuple[str, ...],
) -> None:
    """Write the env of .deliver to the hosts (as the env of their current release too);
    the nodes keep theirs until restarted (--restart)."""
    from deliver.commands.env import env_push as run

    if not restart and (batch is not None or all_at_once or rollback_on_failure is not None):
        raise UsageError("--batch, --all-at-once and --rollback-on-failure need --restart")
    run(
        ctx.config(),
        ctx.out,
        environment,
        hosts=hosts,
        restart=restart,
        rollout=rollout_from(batch, rollback_on_failure, all_at_once),
    )
