"""`deliver sandbox up|config|down`: local SSH hosts on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import click

from deliver.cli.main import SETTINGS, cli
from deliver.errors import UsageError
from deliver.output import Output


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
@click.option(
    "--staging",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="How many targets form a staging environment (the others: production).",
)
@click.option(
    "--health-check/--no-health-check",
    default=True,
    show_default=True,
    help="Ask the app over HTTP after each restart.",
)
@click.pass_context
def sandbox_config(ctx: click.Context, app: str, staging: int, health_check: bool) -> None:
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
    text = box.deliver_config(app, release_store=store, staging=staging, health_check=health_check)
    click.echo(text, nl=False)


@sandbox.command("down", context_settings=SETTINGS)
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop every sshd and every node the sandbox started."""
    from deliver.sandbox import stop_sandbox

    count = stop_sandbox(ctx.obj.sandbox_dir)
    ctx.obj.out.step(f"Sandbox stopped ({count} processes)")
