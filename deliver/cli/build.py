"""`deliver build release` and `deliver build upgrade`."""

from __future__ import annotations

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import one_revision, parse_versions
from deliver.config.model import Overrides
from deliver.errors import UsageError


@cli.group(context_settings=SETTINGS)
def build() -> None:
    """Build a release on the build host into the release store."""


@build.command("release", context_settings=SETTINGS)
@click.option("--revision", help="Build this commit (sha or any git revision).")
@click.option("--tag", help="Build this tag.")
@click.option("--branch", help="Build the head of this branch (default: the current one).")
@click.option("--mix-env", help="MIX_ENV for the build (default: build.mix_env or prod).")
@click.option(
    "--auto-version",
    metavar="PARTS",
    help="Append to the version, joined by +: revision, commit-count, commit-count-branch, "
    "branch, branch-unless-main, date, time (default: build.auto_version).",
)
@click.option(
    "--increment-version",
    type=click.Choice(["major", "minor", "patch"]),
    help="Build the project's version with this part incremented.",
)
@click.option("--set-version", metavar="VERSION", help="Build with this version.")
@click.option("--clean", is_flag=True, help="Full rebuild: remove deps and _build first.")
@click.option("--skip-git-clean", is_flag=True, help="Keep untracked files in the build tree.")
@click.option("--skip-mix-clean", is_flag=True, help="Keep build.clean_paths (the last release).")
@click.option("--force", is_flag=True, help="Replace a stored release of the same version.")
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
    from deliver.build.tree import BuildOptions
    from deliver.commands.build import build_release as run

    one_revision(revision, tag)
    if clean and skip_git_clean:
        raise UsageError("--clean and --skip-git-clean contradict each other")
    options = BuildOptions(
        clean=clean,
        git_clean=not skip_git_clean,
        remove_generated=not skip_mix_clean,
        force=force,
        versions=parse_versions(auto_version, increment_version, set_version),
    )
    ctx.overrides = Overrides(mix_env=mix_env)
    run(ctx.config(), ctx.out, revision=revision, tag=tag, branch=branch, options=options)


@build.command("upgrade", context_settings=SETTINGS)
@click.option("--from", "from_ref", metavar="REF", help="Build the old release from this ref.")
@click.option(
    "--with", "with_version", metavar="VERSION", help="Take the old release from the store."
)
@click.option("--to", "to_ref", metavar="REF", help="Build the new release from this ref.")
@click.option("--branch", help="The new release is this branch's head (default: the current one).")
@click.option("--mix-env", help="MIX_ENV (rebar3: profile) for the builds (default: prod).")
@pass_context
def build_upgrade(
    ctx: Context,
    from_ref: str | None,
    with_version: str | None,
    to_ref: str | None,
    branch: str | None,
    mix_env: str | None,
) -> None:
    """Build the hot upgrade from an old release to a new one, and store it.

    The relup is generated from the appups in rel/appups/<app>.appup (rebar3: also
    ebin/<app>.appup); an application without one gets a generated default appup.
    """
    from deliver.commands.build import build_upgrade as run

    ctx.overrides = Overrides(mix_env=mix_env)
    run(
        ctx.config(),
        ctx.out,
        from_ref=from_ref,
        with_version=with_version,
        to_ref=to_ref,
        branch=branch,
    )
