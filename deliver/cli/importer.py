"""`deliver import edeliver [PATH]`: convert an edeliver `.deliver/config`."""

from __future__ import annotations

from pathlib import Path

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context


@cli.group("import", context_settings=SETTINGS)
def import_() -> None:
    """Convert another tool's config into deliver's."""


@import_.command("edeliver", context_settings=SETTINGS)
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--write", is_flag=True, help="Write .deliver.yml beside .deliver/ (else print).")
@click.option("--force", is_flag=True, help="With --write: replace an existing .deliver.yml.")
@click.option(
    "--with-env",
    is_flag=True,
    help="Pass your environment to the file (default: it is sourced with an empty one).",
)
@pass_context
def import_edeliver(
    ctx: Context, path: Path | None, write: bool, force: bool, with_env: bool
) -> None:
    """Convert edeliver's bash config at PATH (default: .deliver/config, here or above) into
    deliver's.

    \b
    The file is sourced in an isolated, restricted bash (without network where unshare can
    make that; it says so otherwise); the commands it and its hook functions would run are
    recorded, never run. Prints the config on stdout and,
    on stderr, everything that was not translated or means something else, with what to do.
    """
    from deliver.commands.edeliver import ImportOptions
    from deliver.commands.edeliver import import_edeliver as run

    run(ImportOptions(path, write=write, force=force, with_env=with_env), ctx.out)
