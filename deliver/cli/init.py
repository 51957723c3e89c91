"""`deliver init`: write a first config for the app in the current directory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import split_hosts


@cli.command("init", context_settings=SETTINGS)
@click.option("--build-host", metavar="[USER@]HOST", help="Where releases are built.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="[USER@]HOST",
    help="A host to deploy to (repeatable).",
)
@click.option("--deliver-to", metavar="PATH", help="Where the app lives on the hosts.")
@click.option("--environment", default="production", show_default=True, help="Its name.")
@click.option("--force", is_flag=True, help="Replace an existing config.")
@pass_context
def init(
    ctx: Context,
    build_host: str | None,
    hosts: tuple[str, ...],
    deliver_to: str | None,
    environment: str,
    force: bool,
) -> None:
    """Detect the app and its build tool here and write .deliver.yml for it.

    On a terminal it asks for what the flags did not give; otherwise (CI, scripts) it asks
    nothing and writes placeholders for the hosts, to edit before the first deploy.
    """
    from deliver.commands.init import InitAnswers
    from deliver.commands.init import init as run

    defaults = InitAnswers()
    if sys.stdin.isatty():
        build_host = build_host or click.prompt("Build host", default=defaults.build_host)
        if not hosts:
            hosts = (click.prompt("Hosts (comma-separated)", default=",".join(defaults.hosts)),)
    answers = InitAnswers(
        build_host=build_host or defaults.build_host,
        hosts=tuple(split_hosts(hosts)) or defaults.hosts,
        deliver_to=deliver_to,
        environment=environment,
        force=force,
    )
    run(Path.cwd(), ctx.out, answers)
