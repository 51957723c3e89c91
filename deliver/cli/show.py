"""show releases|migrations|relup and check config."""

from __future__ import annotations

import click

from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import environment_name, host_option, positional


@cli.group(context_settings=SETTINGS)
def show() -> None:
    """Show the releases in the store or on the hosts, and the migration status."""


@show.command("releases", context_settings=SETTINGS)
@click.argument("environment", required=False)
@host_option
@pass_context
def show_releases(ctx: Context, environment: str | None, hosts: tuple[str, ...]) -> None:
    """The releases in the store (version, commit, branch, build time, size) and the upgrades
    between them, or with ENVIRONMENT those on each of its hosts."""
    config = ctx.config()
    if environment is not None:
        from deliver.commands.rollback import HOST_RELEASE_HEADERS, show_host_releases

        report = show_host_releases(config, ctx.out, environment, hosts)
        ctx.out.table(HOST_RELEASE_HEADERS, report.rows)
        for line in report.disagreements:
            ctx.out.warning(line)
        return
    from deliver.commands.store import RELEASE_HEADERS, UPGRADE_HEADERS
    from deliver.commands.store import show_releases as run

    listing = run(config, ctx.out)
    if not listing.releases:
        ctx.out.info(f"no releases of {config.app} in {listing.location}")
        return
    ctx.out.table(RELEASE_HEADERS, listing.release_rows)
    if listing.upgrade_rows:  # hot upgrades (deliver build upgrade), listed after releases
        ctx.out.info("")
        ctx.out.table(UPGRADE_HEADERS, listing.upgrade_rows)


@show.command("migrations", context_settings=SETTINGS)
@click.argument("environment", nargs=-1, metavar="[ENVIRONMENT]")
@pass_context
def show_migrations(ctx: Context, environment: tuple[str, ...]) -> None:
    """The migration status, from the environment's primary host."""
    from deliver.commands.migrate import show_migrations as run

    config = ctx.config()
    run(config, ctx.out, environment_name(environment, config, False))


@show.command("relup", context_settings=SETTINGS)
@click.argument("version")
@pass_context
def show_relup(ctx: Context, version: str) -> None:
    """Print the relup (release handler instructions) of the stored upgrade to VERSION."""
    from deliver.commands.build import show_relup as run

    with positional("version", "VERSION"):
        upgrade, text = run(ctx.config(), ctx.out, version)
    out = ctx.out
    out.step(
        f"{upgrade.app} {upgrade.from_version} -> {upgrade.version} "
        f"({upgrade.commit[:10]}, built {upgrade.built_at})"
    )
    if upgrade.generated_appups:
        out.info(f"generated appups: {', '.join(upgrade.generated_appups)}")
    if upgrade.changed_protocols:
        out.info(f"protocols kept until restart: {', '.join(upgrade.changed_protocols)}")
    out.info(text.rstrip())


@cli.group(context_settings=SETTINGS)
def check() -> None:
    """Check the configuration."""


@check.command("config", context_settings=SETTINGS)
@pass_context
def check_config(ctx: Context) -> None:
    """Validate the .deliver file and print what it resolves to."""
    config = ctx.config()
    ctx.out.step(f"{config.source} is valid")
    ctx.out.info(f"app: {config.app}")
    if config.build:
        ctx.out.info(
            f"build: {config.build.host.name}:{config.build.at} "
            f"(tool {config.build.tool}, MIX_ENV={config.build.mix_env})"
        )
    ctx.out.info(f"release store: {config.release_store}")
    for env in config.environments.values():
        hosts = ", ".join(h.name for h in env.hosts)
        ctx.out.info(f"{env.name}: {hosts} -> {env.deliver_to}")
    from deliver.hooks import Hooks

    for point, hooks in Hooks.load(config, ctx.out).by_point.items():
        for hook in hooks:
            ctx.out.info(f"hook {point}: {hook.name} (runs on {hook.runs_on})")
