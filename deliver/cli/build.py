"""`deliver build release` and `deliver build upgrade`."""

from __future__ import annotations

from dataclasses import replace

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import build_options, build_options_from, one_revision
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
@click.option(
    "--from",
    "from_refs",
    metavar="REF",
    multiple=True,
    help="Build the old release from this ref; repeat it for an upgrade from each.",
)
@click.option(
    "--from-env",
    metavar="ENV",
    help="Upgrade from every version ENV's hosts run (their stored releases); with --from too.",
)
@click.option(
    "--with", "with_version", metavar="VERSION", help="Take the old release from the store."
)
@click.option("--to", "to_ref", metavar="REF", help="Build the new release from this ref.")
@click.option("--branch", help="The new release is this branch's head (default: the current one).")
@click.option("--mix-env", help="MIX_ENV (rebar3: profile) for the builds (default: prod).")
@click.option(
    "--force", is_flag=True, help="Replace a different stored build of the releases' versions."
)
@click.option("--edit", is_flag=True, help="Open each appup in $EDITOR before the relup is made.")
@pass_context
def build_upgrade(
    ctx: Context,
    from_refs: tuple[str, ...],
    from_env: str | None,
    with_version: str | None,
    to_ref: str | None,
    branch: str | None,
    mix_env: str | None,
    force: bool,
    edit: bool,
) -> None:
    """Build the hot upgrade from an old release (or several: --from repeated, --from-env) to
    a new one, and store it.

    Each changed application's appup is yours (rel/appups/<app>/<old>-<new>.appup, or
    rel/appups/<app>.appup of the new version; rebar3: also ebin/<app>.appup), else generated
    from its modules: see it with deliver show appup VERSION.
    """
    from deliver.commands.build import build_upgrade as run

    ctx.overrides = replace(ctx.overrides or Overrides(), mix_env=mix_env)
    run(
        ctx.config(),
        ctx.out,
        from_ref=from_refs[0] if from_refs else None,
        also_from=from_refs[1:],
        from_env=from_env,
        edit=_edit_appup if edit else None,
        with_version=with_version,
        to_ref=to_ref,
        branch=branch,
        force=force,
    )


def _edit_appup(app: str, text: str) -> str | None:
    """The user's $EDITOR on one appup; None when they quit without saving."""
    header = f"%% the appup of {app}: save to use your changes, quit to keep it as it is\n"
    try:
        edited = click.edit(header + text, extension=".appup", require_save=True)
    except click.ClickException as error:  # the editor could not start, or exited non-zero
        raise UsageError(
            f"--edit: {error.format_message()} on the appup of {app}: the upgrade was not built "
            "(the releases built so far are stored)",
            hint="set $EDITOR (or $VISUAL) to an editor that exits 0 when you save",
        ) from None
    return None if edited is None else edited.removeprefix(header)
