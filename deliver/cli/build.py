"""`deliver build release` and `deliver build upgrade`."""

from __future__ import annotations

from dataclasses import replace

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import build_options, build_options_from, one_revision
from deliver.config.model import Overrides


@cli.group(context_settings=SETTINGS)
def build() -> None:
    """Build a release on the build host into the release store."""


@build.command("release", context_settings=SETTINGS)
@click.option("--revision", help="Build this commit (sha or any git revision).")
@click.option("--tag", help="Build this tag.")
@click.option("--branch", help="Build the head of this branch (default: the current one).")
@click.option("--mix-env", help="MIX_ENV for the build (default: build.mix_env or prod).")
@build_options
@pass_context
def build_release(
    ctx: Context,
    revision: str | None,
    tag: str | None,
    branch: str | None,
    mix_env: str | None,
    auto_version: str | None,
    increment_version: str | None,
    set_version: str | None,
    clean: bool,
    skip_git_clean: bool,
    skip_mix_clean: bool,
    force: bool,
) -> None:
    """Push a revision to the build host, build the release there, and store it."""
    from deliver.commands.build import build_release as run

    one_revision(revision, tag)
    options = build_options_from(
        auto_version, increment_version, set_version, clean, skip_git_clean, skip_mix_clean, force
    )
    ctx.overrides = replace(ctx.overrides or Overrides(), mix_env=mix_env)
    run(ctx.config(), ctx.out, revision=revision, tag=tag, branch=branch, options=options)


@build.command("upgrade", context_settings=SETTINGS)
@click.option("--from", "from_ref", metavar="REF", help="Build the old release from this ref.")
@click.option(
    "--with", "with_version", metavar="VERSION", help="Take the old release from the store."
)
@click.option("--to", "to_ref", metavar="REF", help="Build the new release from this ref.")
@click.option("--branch", help="The new release is this branch's head (default: the current one).")
@click.option("--mix-env", help="MIX_ENV (rebar3: profile) for the builds (default: prod).")
@click.option(
    "--force", is_flag=True, help="Replace a different stored build of the releases' versions."
)
@pass_context
def build_upgrade(
    ctx: Context,
    from_ref: str | None,
    with_version: str | None,
    to_ref: str | None,
    branch: str | None,
    mix_env: str | None,
    force: bool,
) -> None:
    """Build the hot upgrade from an old release to a new one, and store it.

    The relup is generated from the appups in rel/appups/<app>.appup (rebar3: also
    ebin/<app>.appup); an application without one gets a generated default appup.
    """
    from deliver.commands.build import build_upgrade as run

    ctx.overrides = replace(ctx.overrides or Overrides(), mix_env=mix_env)
    run(
        ctx.config(),
        ctx.out,
        from_ref=from_ref,
        with_version=with_version,
        to_ref=to_ref,
        branch=branch,
        force=force,
    )
