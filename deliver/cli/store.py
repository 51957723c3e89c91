"""upload release, download release and prune releases: the release store."""

from __future__ import annotations

from pathlib import Path

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import positional

_LOCAL_DIR_HELP = "The local directory (default: .deliver-releases beside the .deliver file)."


@cli.group(context_settings=SETTINGS)
def upload() -> None:
    """Copy a release from a local directory into the remote or S3 release store."""


@upload.command("release", context_settings=SETTINGS)
@click.argument("version", required=False)
@click.option("--dir", "local_dir", type=click.Path(path_type=Path), help=_LOCAL_DIR_HELP)
@click.option("--force", is_flag=True, help="Replace a different build of the same version.")
@pass_context
def upload_release(ctx: Context, version: str | None, local_dir: Path | None, force: bool) -> None:
    """Upload VERSION (default: the newest local one) to the configured release store."""
    from deliver.commands.store import upload_release as run

    with positional("version", "VERSION"):
        run(ctx.config(), ctx.out, version, local_dir=local_dir, force=force)


@cli.group(context_settings=SETTINGS)
def download() -> None:
    """Copy a release from the remote or S3 release store into a local directory."""


@download.command("release", context_settings=SETTINGS)
@click.argument("version", required=False)
@click.option("--dir", "local_dir", type=click.Path(path_type=Path), help=_LOCAL_DIR_HELP)
@click.option("--force", is_flag=True, help="Replace a different build of the same version.")
@pass_context
def download_release(
    ctx: Context, version: str | None, local_dir: Path | None, force: bool
) -> None:
    """Download VERSION (default: the newest) from the release store, checking its sha256."""
    from deliver.commands.store import download_release as run

    with positional("version", "VERSION"):
        run(ctx.config(), ctx.out, version, local_dir=local_dir, force=force)


@cli.group(context_settings=SETTINGS)
def prune() -> None:
    """Remove old releases."""


@prune.command("releases", context_settings=SETTINGS)
@click.option(
    "--keep", type=click.IntRange(min=1), required=True, help="How many of the newest to keep."
)
@pass_context
def prune_releases(ctx: Context, keep: int) -> None:
    """Delete all but the KEEP newest releases from the release store."""
    from deliver.commands.store import prune_releases as run

    if ctx.dry_run:
        from deliver.commands.dryrun import dry_run_store_prune

        dry_run_store_prune(ctx.config(), ctx.out, keep)
        return
    run(ctx.config(), ctx.out, keep)
