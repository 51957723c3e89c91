"""`deliver completion bash|zsh|fish`: the shell's completion script, completing commands and
flags (click's completion), environment names from the config and versions in a local store."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem, get_completion_class

from deliver.cli.main import SETTINGS, cli

SHELLS = ("bash", "zsh", "fish")
#: the variable click's completion protocol reads (deliver -> _DELIVER_COMPLETE)
COMPLETE_VAR = "_DELIVER_COMPLETE"


@cli.command("completion", context_settings=SETTINGS)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; e.g. in ~/.bashrc:

    \b
      eval "$(deliver completion bash)"
    """
    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    click.echo(completer(cli, {}, "deliver", COMPLETE_VAR).source())


def complete_environments(
    _context: click.Context, _parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The configured environments (and edeliver's `to`); nothing when the config cannot be
    read: completion must never print an error into the user's command line."""
    from deliver.config.load import load_config
    from deliver.errors import DeliverError

    try:
        names = ["to", *load_config().environments]
    except DeliverError:
        return []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def complete_versions(
    _context: click.Context, _parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Versions in the release store, when it is a local directory (a remote store would cost
    a connection on every Tab)."""
    from pathlib import Path

    from deliver.config.load import load_config
    from deliver.errors import DeliverError
    from deliver.release_store import LocalStore

    try:
        config = load_config()
        if not isinstance(config.release_store, Path):
            return []
        releases = LocalStore(config.release_store).releases(config.app)
    except DeliverError:
        return []
    versions = [r.version for r in reversed(releases)]
    return [CompletionItem(v) for v in versions if v.startswith(incomplete)]
