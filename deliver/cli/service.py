"""logs and `systemd unit`: the node under its service manager."""

from __future__ import annotations

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import environment_name, host_option


@cli.command("logs", context_settings=SETTINGS)
@click.argument(
    "environment", nargs=-1, metavar="[ENVIRONMENT]", shell_complete=complete_environments
)
@host_option
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="How many of the last lines of each host.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option(
    "--since",
    metavar="TIME",
    help="Only lines since TIME ('2024-05-01 10:00', yesterday, -1h); systemd's journal only.",
)
@click.option("--grep", metavar="REGEX", help="Only lines matching REGEX (extended regex).")
@pass_context
def logs(
    ctx: Context,
    environment: tuple[str, ...],
    hosts: tuple[str, ...],
    lines: int,
    follow: bool,
    since: str | None,
    grep: str | None,
) -> None:
    """Print the node's logs from every host (or --host), each line prefixed `host |`.

    The logs are the files in node.log_dir on each host (default deliver_to/log, kept across
    releases), or the unit's journal when node.manager is systemd.
    """
    from deliver.commands.logs import logs as run
    from deliver.host.logs import LogQuery

    config = ctx.config()
    query = LogQuery(lines=lines, follow=follow, since=since, grep=grep)
    run(config, ctx.out, environment_name(environment, config, False), hosts, query)


@cli.group("systemd", context_settings=SETTINGS)
def systemd() -> None:
    """The systemd unit of the node (node.manager: systemd)."""


@systemd.command("unit", context_settings=SETTINGS)
@click.argument(
    "environment", nargs=-1, metavar="[ENVIRONMENT]", shell_complete=complete_environments
)
@host_option
@click.option(
    "--install",
    is_flag=True,
    help="Write it on every host (--user units: ~/.config/systemd/user, else "
    "/etc/systemd/system through sudo -n), reload systemd and enable it.",
)
@pass_context
def unit(ctx: Context, environment: tuple[str, ...], hosts: tuple[str, ...], install: bool) -> None:
    """Print the systemd unit that runs the release in the foreground on each host."""
    from deliver.commands.service import systemd_unit

    config = ctx.config()
    systemd_unit(config, ctx.out, environment_name(environment, config, False), hosts, install)
