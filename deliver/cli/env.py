"""`deliver env show|diff|push ENV`: the env file of each host against `.deliver`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import host_option, rollout_from, rollout_options
from deliver.errors import DeliverError, UsageError

if TYPE_CHECKING:
    from deliver.commands.env import NodeEnv


@cli.group("env", context_settings=SETTINGS)
def env() -> None:
    """The env file of each host (deliver_to/deliver.env) against the env in .deliver."""


@env.command("show", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.option("--diff", "show_diff", is_flag=True, help="Also name each variable that differs.")
@host_option
@pass_context
def env_show(ctx: Context, environment: str, show_diff: bool, hosts: tuple[str, ...]) -> None:
    """The env file each node booted with (secret values shown as ****) and whether it is
    what .deliver would write now. Every host that answered, then those that did not (exit
    status 3 when a host cannot be reached)."""
    from deliver.commands.env import env_show as run

    found, failure = run(ctx.config(), ctx.out, environment, hosts)
    for host, node in found.items():
        ctx.out.host_status(host, node.booted.file is not None, _booted_line(node, environment))
        for name, value in node.variables:
            ctx.out.remote_output(host, f"{name}={value}")
        if show_diff:
            for change in node.changes:
                ctx.out.remote_output(host, f"differs: {change.describe()}")
    if failure is not None:
        raise failure


def _booted_line(node: NodeEnv, environment: str) -> str:
    """One host's line of `env show`: which file, booted by what, and how it compares."""
    booted = node.booted
    if booted.file is None:
        return f"has no deliver.env: deliver deploy release to {environment} writes one"
    if node.running:
        text = f"the node started from {node.running} booted with {booted.file}"
    else:
        text = f"no node runs; a start boots {node.current} with {booted.file}"
    if booted.written_after_start:
        text += (
            " (written after the node started: it may still run with the env from before; "
            f"deliver restart {environment} boots this one)"
        )
    if not node.differs:
        return f"{text}: as .deliver would write it now"
    return (
        f"{text}: differs from what .deliver would write now "
        f"(deliver env push {environment} writes it)"
    )


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
