"""`deliver lock status|acquire|release ENV`, `deliver lock status|release --build` and
`deliver audit ENV`."""

from __future__ import annotations

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.errors import UsageError


@cli.group(context_settings=SETTINGS)
def lock() -> None:
    """The deploy lock every mutating command takes (deploy, upgrade, rollback, restart, ...),
    and with --build the build lock every build takes on the build host."""


_BUILD = click.option(
    "--build", is_flag=True, help="The build lock of build.at on the build host instead."
)


def _one_lock(environment: str | None, build: bool) -> str | None:
    """ENVIRONMENT or --build: exactly one of them."""
    if build and environment:
        raise UsageError("give ENVIRONMENT or --build, not both")
    if not build and not environment:
        raise UsageError("which lock? give ENVIRONMENT (its deploy lock) or --build")
    return environment


@lock.command("status", context_settings=SETTINGS)
@click.argument("environment", required=False, shell_complete=complete_environments)
@_BUILD
@pass_context
def lock_status(ctx: Context, environment: str | None, build: bool) -> None:
    """Who holds ENVIRONMENT's lock on each host (--build: the build directory's)."""
    from deliver.commands.lock import describe, lock_status

    if _one_lock(environment, build) is None:
        from deliver.commands.build_lock import build_lock_status

        state = build_lock_status(ctx.config(), ctx.out)
        ctx.out.host_status(state.host, True, state.describe())
        return
    assert environment is not None
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
@click.argument("environment", required=False, shell_complete=complete_environments)
@_BUILD
@click.option("--force", is_flag=True, help="Break the lock, whoever holds it.")
@pass_context
def lock_release(ctx: Context, environment: str | None, build: bool, force: bool) -> None:
    """Give back the lock you took with `lock acquire` (--force: anyone's, e.g. a stale one).
    With --build: break the build directory's lock if it is stale (--force: even a live one)."""
    from deliver.commands.lock import lock_release

    if _one_lock(environment, build) is None:
        from deliver.commands.build_lock import build_lock_release

        state = build_lock_release(ctx.config(), ctx.out, force)
        if state.holder is None:
            ctx.out.step(f"No build lock on {state.where}: nothing to release")
        else:
            ctx.out.step(f"Released the build lock of {state.where}")
        return
    assert environment is not None
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
