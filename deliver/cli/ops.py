"""Production operations: status, remote_console, rpc, eval, exec and custom tasks (run)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import environment_name, host_option, split_hosts

if TYPE_CHECKING:
    from deliver.config import Config


@cli.command("status", context_settings=SETTINGS)
@click.argument(
    "environment", nargs=-1, metavar="[ENVIRONMENT]", shell_complete=complete_environments
)
@host_option
@pass_context
def status(ctx: Context, environment: tuple[str, ...], hosts: tuple[str, ...]) -> None:
    """One row per host: reachable, current and running release, what the node reports
    (version, OS pid, uptime), the last deploy, the lock holder; drift between hosts flagged.
    Exits 3 when a host cannot be reached (--json: one status event per host)."""
    from deliver.commands.status import status as run

    config = ctx.config()
    run(config, ctx.out, environment_name(environment, config, False), hosts)


@cli.command("remote_console", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.option(
    "--host",
    metavar="HOST",
    help="The host whose node to attach to (default: the environment's primary host).",
)
@pass_context
def remote_console(ctx: Context, environment: str, host: str | None) -> None:
    """Open an interactive shell in the running node of one host (bin/<app> remote).

    \b
    Quit with Ctrl-\\ or Ctrl-G then q: the node keeps running.
    Never call System.halt/0 or :init.stop/0 there: they stop the node.
    """
    from deliver.commands.console import remote_console as run

    hosts = split_hosts([host] if host else [])
    if len(hosts) > 1:
        raise click.BadParameter("one host only", param_hint="--host")
    run(ctx.config(), ctx.out, environment, hosts[0] if hosts else None)


@cli.command("rpc", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.argument("expression")
@host_option
@pass_context
def rpc(ctx: Context, environment: str, expression: str, hosts: tuple[str, ...]) -> None:
    """Evaluate EXPRESSION inside the running node of every host, in parallel, and print each
    host's result (e.g. deliver rpc production 'Application.spec(:my_app, :vsn)')."""
    from deliver.commands.oneoff import rpc as run

    run(ctx.config(), ctx.out, environment, expression, hosts)


@cli.command("eval", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.argument("expression")
@host_option
@pass_context
def evaluate(ctx: Context, environment: str, expression: str, hosts: tuple[str, ...]) -> None:
    """Evaluate EXPRESSION in a fresh VM of the current release on every host (its code
    loaded, its applications not started; no running node needed), and print each result."""
    from deliver.commands.oneoff import evaluate as run

    run(ctx.config(), ctx.out, environment, expression, hosts)


@cli.command("exec", context_settings=SETTINGS)
@click.argument("environment", shell_complete=complete_environments)
@click.argument("command", nargs=-1, required=True)
@host_option
@pass_context
def execute(
    ctx: Context, environment: str, command: tuple[str, ...], hosts: tuple[str, ...]
) -> None:
    """Run COMMAND in deliver_to/current on every host, with the host's env loaded.

    \b
    The words after -- are the command, as given (no shell):
      deliver exec production -- bin/my_app pid
      deliver exec production -- sh -c 'ls releases | wc -l'
    """
    from deliver.commands.oneoff import execute as run

    run(ctx.config(), ctx.out, environment, command, hosts)


@cli.command(
    "run",
    context_settings={**SETTINGS, "ignore_unknown_options": True},
)
@click.argument("task", required=False)
@click.argument("words", nargs=-1, type=click.UNPROCESSED, metavar="[ENVIRONMENT] [-- ARGS]")
@click.option("--list", "listing", is_flag=True, help="List the tasks with their docstrings.")
@host_option
@pass_context
def run_task(
    ctx: Context, task: str | None, words: tuple[str, ...], listing: bool, hosts: tuple[str, ...]
) -> None:
    """Run the custom TASK (from deliver_tasks.py, see tasks: in .deliver) once on every host,
    in parallel, with a fabric Connection to each; ARGS are the task's own flags.

    \b
      deliver run --list
      deliver run warm_cache production -- --size=500
    """
    from deliver.commands import tasks

    config = ctx.config()
    if listing:
        rows = tasks.list_tasks(config)
        width = max(len(name) for name, _ in rows)
        for name, summary in rows:
            ctx.out.info(f"{name.ljust(width)}  {summary}".rstrip())
        return
    if task is None:
        raise click.UsageError("name the task to run (deliver run --list shows them)")
    environment, argv = _environment_and_args(words, config)
    tasks.run(config, ctx.out, task, environment, hosts, argv)


def _environment_and_args(words: tuple[str, ...], config: Config) -> tuple[str, list[str]]:
    """`[ENVIRONMENT] [--] [ARGS]`: the first word is the environment when one is named so."""
    rest = list(words)
    named = bool(rest) and rest[0] in config.environments
    environment = environment_name(rest[:1] if named else [], config, False)
    rest = rest[1:] if named else rest
    return environment, rest[1:] if rest[:1] == ["--"] else rest
