"""start, stop, restart, ping and version."""

from __future__ import annotations

import click

from deliver.cli.completion import complete_environments
from deliver.cli.deploy import dry_run
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import environment_name, host_option, rollout_from, rollout_options


def _node_command(name: str, summary: str) -> None:
    @cli.command(name, help=summary, context_settings=SETTINGS)
    @click.argument(
        "environment", nargs=-1, metavar="[ENVIRONMENT]", shell_complete=complete_environments
    )
    @host_option
    @pass_context
    def command(ctx: Context, environment: tuple[str, ...], hosts: tuple[str, ...]) -> None:
        from deliver.commands import control

        config = ctx.config()
        if ctx.dry_run and name in ("start", "stop"):
            dry_run(ctx, name, environment_name(environment, config, False), hosts)
            return
        getattr(control, name)(config, ctx.out, environment_name(environment, config, False), hosts)


_node_command("start", "Start the deployed release; waits until the node answers.")
_node_command("stop", "Stop the running node; waits until it is gone.")


@cli.command("restart", context_settings=SETTINGS)
@click.argument(
    "environment", nargs=-1, metavar="[ENVIRONMENT]", shell_complete=complete_environments
)
@rollout_options
@host_option
@pass_context
def restart(
    ctx: Context,
    environment: tuple[str, ...],
    batch: str | None,
    all_at_once: bool,
    rollback_on_failure: bool | None,
    hosts: tuple[str, ...],
) -> None:
    """Stop the node, then start the current release, batch by batch (see rollout: in
    .deliver)."""
    from deliver.commands.rollout import restart as run

    config = ctx.config()
    rollout = rollout_from(batch, rollback_on_failure, all_at_once)
    if ctx.dry_run:
        env = environment_name(environment, config, False)
        dry_run(ctx, "restart", env, hosts, rollout=rollout)
        return
    run(config, ctx.out, environment_name(environment, config, False), hosts, rollout)


_node_command("ping", "Check that the node answers on each host.")
_node_command("version", "Print the version each node is running.")
