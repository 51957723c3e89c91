"""`deliver lock status|acquire|release ENV` and `deliver audit ENV`."""

from __future__ import annotations

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context


@cli.group(context_settings=SETTINGS)
def lock() -> None:
    """The deploy lock every mutating command takes (deploy, upgrade, rollback, restart, ...)."""


@lock.command("status", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@pass_context
def lock_status(ctx: Context, environment: str) -> None:
    """Who holds ENVIRONMENT's lock on each host."""
    from deliver.commands.lock import describe, lock_status

    for host, info in lock_status(ctx.config(), ctx.out, environment).items():
        ctx.out.host_status(host, True, describe(info) if info else "not locked")


@lock.command("acquire", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.option("-m", "--message", required=True, help="Why: shown to everyone it blocks.")
@pass_context
def lock_acquire(ctx: Context, environment: str, message: str) -> None:
    """Lock ENVIRONMENT (maintenance): every mutating command is refused until released."""
    from deliver.commands.lock import lock_acquire

    lock_acquire(ctx.config(), ctx.out, environment, message)


@lock.command("release", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.option("--force", is_flag=True, help="Break the lock, whoever holds it.")
@pass_context
def lock_release(ctx: Context, environment: str, force: bool) -> None:
    """Give back the lock you took with `lock acquire` (--force: anyone's, e.g. a stale one)."""
    from deliver.commands.lock import lock_release

    released = lock_release(ctx.config(), ctx.out, environment, force)
    if released:
        ctx.out.step(f"Released the lock of {environment} on {', '.join(released)}")
    else:
        ctx.out.step(f"No lock of yours on {environment} (--force breaks anyone's)")


@cli.command("audit", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.option("-n", "--lines", default=20, show_default=True, help="Lines per host.")
@pass_context
def audit(ctx: Context, environment: str, lines: int) -> None:
    """The audit log of each host: time, who, command, outcome, newest last."""
    from deliver.commands.lock import audit_log

    for host, entries in audit_log(ctx.config(), ctx.out, environment, lines).items():
        for entry in entries or ["(empty)"]:
            ctx.out.remote_output(host, entry)
