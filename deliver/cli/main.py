"""The command line's root: global flags, the Context every command gets, and `run`, which maps
what a command raised to an exit status. Nothing outside deliver/cli/ knows about click."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from deliver import __version__
from deliver.cli.options import flag_message
from deliver.errors import (
    ConfigError,
    ConnectionFailed,
    DeliverError,
    HostsFailed,
    Interrupted,
    UsageError,
)
from deliver.events import JsonOutput
from deliver.output import Output
from deliver.shell import SHORT_SECRET

if TYPE_CHECKING:
    from deliver.config import Config, Overrides


class ExitCode(IntEnum):
    """Documented in the README; CI pipelines rely on them."""

    OK = 0
    FAILED = 1  # a build, deploy or node operation failed
    USAGE = 2  # bad command line or .deliver file: nothing was done
    UNREACHABLE = 3  # a host could not be connected to (network, auth, host key)
    BUG = 70  # an unexpected error inside deliver (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C


@dataclass
class Context:
    out: Output
    config_path: Path | None = None
    overrides: Overrides | None = None
    sandbox_dir: Path = Path(".deliver-sandbox")
    #: --dry-run: mutating commands probe read-only and say what they would do
    dry_run: bool = False
    #: the command run (`deliver ping ...`: ping), for what it needs of the config
    command: str | None = None

    def config(self) -> Config:
        from deliver.config.load import load_config

        config = load_config(self.config_path, overrides=self.overrides)
        if self.command in WITHOUT_LOCAL_ENV:
            # they send no env to a host (the nodes read the host's deliver.env): an unset
            # ${VAR} that only a deploy needs must not stop a ping
            config = replace(config, unset=())
        self.out.secrets = config.secrets()
        short = [s for s in self.out.secrets if 0 < len(s.value) < SHORT_SECRET]
        if short:
            # in words: a digit in this line could be the very secret, and be masked
            self.out.warning(
                "a secret shorter than six characters is masked only where it stands "
                "alone: a word that contains it shows it (use longer secrets)"
            )
        self.out.detail(f"using {config.source}")
        return config


pass_context = click.make_pass_decorator(Context)
#: The commands with a --dry-run (commands/dryrun.py), and those that change nothing anyway.
DRY_RUN_COMMANDS = frozenset(
    {"deploy", "downgrade", "update", "upgrade", "rollback", "restart", "start", "stop"}
    | {"migrate", "prune"}
)
READ_ONLY_COMMANDS = frozenset(
    {"ping", "version", "show", "check", "completion", "audit", "status", "logs"}
)
#: The commands that send none of .deliver's env to a host: they run with `${VAR}`s unset.
WITHOUT_LOCAL_ENV = frozenset({"ping", "version", "status", "logs", "audit"})
SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=SETTINGS)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="DELIVER_CONFIG",
    help="The config file (default: .deliver.yml, deliver.yml, .deliver or "
    ".deliver/deliver.yml, here or above, up to the git root).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show the output of remote commands.")
@click.option("--debug", is_flag=True, help="Show remote commands too, and tracebacks.")
@click.option("--color/--no-color", default=None, help="Force or disable colour.")
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Wait this long for another command's deploy lock (default: lock_wait, 0).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    metavar="N",
    help="Open at most N SSH connections at once (default: ssh.parallel, 32).",
)
@click.option(
    "--json",
    "json_events",
    is_flag=True,
    help="Write events as JSON lines on stdout instead of text (see README: --json).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Commands that change hosts only probe them read-only and say what they would do.",
)
@click.version_option(__version__, "--version", prog_name="deliver")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    verbose: bool,
    debug: bool,
    color: bool | None,
    lock_wait: float | None,
    parallel: int | None,
    json_events: bool,
    dry_run: bool,
) -> None:
    """Build, deploy and run Elixir and Erlang releases over SSH.

    \b
    Typical use:
      deliver build release
      deliver deploy release to production --start-deploy
      deliver ping production
    """
    context: Context = ctx.obj
    context.config_path = config_path
    context.dry_run = dry_run
    context.command = ctx.invoked_subcommand
    if dry_run and ctx.invoked_subcommand not in DRY_RUN_COMMANDS | READ_ONLY_COMMANDS:
        # silently doing it for real would be the worst answer to --dry-run
        raise UsageError(
            f"--dry-run: deliver {ctx.invoked_subcommand} has no dry run, and it changes "
            "things: run it without --dry-run when you mean it",
            hint="dry runs: " + ", ".join(sorted(DRY_RUN_COMMANDS)),
        )
    if lock_wait is not None or parallel is not None:
        from deliver.config.model import Overrides

        context.overrides = Overrides(lock_wait=lock_wait, parallel=parallel)
    context.out.verbose, context.out.debug = verbose or debug, debug
    if color is not None and not json_events:
        context.out.color = color


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None, out: Output | None = None) -> int:
    """Run the CLI and return its exit status (tests call this in-process)."""
    argv = _global_flags_first(list(argv) if argv is not None else sys.argv[1:])
    debug = "--debug" in argv
    context = Context(_output(out, "--json" in argv))
    status = _run(argv, context, debug)
    if isinstance(context.out, JsonOutput):
        context.out.emit("done", exit=int(status))
    return status


def _output(out: Output | None, json_events: bool) -> Output:
    """The output the command reports through; with --json, events on the same stdout."""
    if not json_events:
        return out or Output()
    return JsonOutput(out._stdout if out is not None else None)


def _run(argv: list[str], context: Context, debug: bool) -> int:
    fallback = context.out
    try:
        cli.main(args=argv, prog_name="deliver", standalone_mode=False, obj=context)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        if isinstance(fallback, JsonOutput):
            fallback.error(error.format_message())
        else:
            error.show()
        return ExitCode.USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        fallback.error("interrupted")
        return ExitCode.INTERRUPTED
    except DeliverError as error:
        if debug:
            _show_traceback(fallback)
        state = f"\n{error.state}" if error.state else ""
        fallback.error(flag_message(error) + state, error.hint)
        return _exit_code(error)
    except Exception:
        if debug:
            _show_traceback(fallback)
        fallback.error(
            "unexpected error: this is a bug in deliver",
            "please report it with the traceback above"
            if debug
            else "run the command again with --debug to see the traceback, and report it",
        )
        return ExitCode.BUG
    return ExitCode.OK


def _show_traceback(out: Output) -> None:
    """The traceback of the error being handled, through Output: it quotes messages and values
    that may hold a secret or text from a host (a raw re-raise would print them unmasked)."""
    import traceback

    out.traceback(traceback.format_exc())


_GLOBAL_FLAGS = {"-v", "--verbose", "--debug", "--color", "--no-color", "--json", "--dry-run"}


def _global_flags_first(argv: list[str]) -> list[str]:
    """Accept `deliver build release --verbose` as well as `deliver --verbose build release`."""
    front: list[str] = []
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            rest += [word, *words]
        elif word in _GLOBAL_FLAGS or word.startswith(("--config=", "--lock-wait=", "--parallel=")):
            front.append(word)
        elif word in ("--config", "--lock-wait", "--parallel"):
            front += [word, next(words, "")]
        else:
            rest.append(word)
    return front + rest


def _exit_code(error: DeliverError) -> ExitCode:
    if isinstance(error, Interrupted):
        return ExitCode.INTERRUPTED
    if isinstance(error, ConfigError | UsageError):
        return ExitCode.USAGE
    if isinstance(error, ConnectionFailed):
        return ExitCode.UNREACHABLE
    if isinstance(error, HostsFailed) and all(
        isinstance(e, ConnectionFailed) for e in error.errors.values()
    ):
        return ExitCode.UNREACHABLE
    return ExitCode.FAILED
