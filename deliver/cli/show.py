"""show releases|migrations|relup|appup and check config."""

from __future__ import annotations

from pathlib import Path

import click

from deliver.cli.completion import complete_environments
from deliver.cli.main import SETTINGS, Context, cli, pass_context
from deliver.cli.options import environment_name, host_option, positional
from deliver.config import Config
from deliver.errors import UsageError
from deliver.output import Output


@cli.group(context_settings=SETTINGS)
def show() -> None:
    """Show the releases in the store or on the hosts, and the migration status."""


@show.command("releases", context_settings=SETTINGS)
@click.argument("environment", required=False, shell_complete=complete_environments)
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
        if report.unreachable:
            from deliver.errors import HostsFailed

            raise HostsFailed("reading releases", report.unreachable, list(report.releases))
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
@click.argument(
    "environment", nargs=-1, metavar="[ENVIRONMENT]", shell_complete=complete_environments
)
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
        f"{upgrade.app} {', '.join(upgrade.from_versions)} -> {upgrade.version} "
        f"({upgrade.commit[:10]}, built {upgrade.built_at})"
    )
    if upgrade.generated_appups:
        out.info(f"generated appups: {', '.join(upgrade.generated_appups)}")
    if upgrade.changed_protocols:
        out.info(f"protocols kept until restart: {', '.join(upgrade.changed_protocols)}")
    if upgrade.restarts_emulator:
        out.info(
            "restarts the emulator: the nodes reboot into it, new OS processes, their state "
            "lost (they must run with heart; else deliver upgrade --fallback=restart)"
        )
    out.info(text.rstrip())


@show.command("appup", context_settings=SETTINGS)
@click.argument("version")
@click.option("--app", "only", help="Only this application's appups.")
@click.option(
    "--write-to",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy them into DIR/<app>/<old>-<new>.appup (e.g. rel/appups: your overrides).",
)
@click.option("--force", is_flag=True, help="With --write-to: replace files that differ.")
@pass_context
def show_appup(
    ctx: Context, version: str, only: str | None, write_to: Path | None, force: bool
) -> None:
    """Print the appups the stored upgrade to VERSION was built with (generated ones and
    yours), one per application and old version, as the store keeps them beside the upgrade.
    Commit one as rel/appups/<app>/<old>-<new>.appup (--write-to rel/appups) to change it."""
    from deliver.commands.build import show_appup as run
    from deliver.commands.build import write_appups

    with positional("version", "VERSION"):
        upgrade, appups = run(ctx.config(), ctx.out, version)
    out = ctx.out
    if only is not None:
        apps = ", ".join(dict.fromkeys(appup.app for appup in appups))
        appups = [appup for appup in appups if appup.app == only]
        if not appups:
            raise UsageError(f"the upgrade to {version} has no appup of {only} (it has {apps})")
    if write_to is not None:
        written = write_appups(appups, write_to, force)
        for appup in appups:
            path = write_to / appup.name
            out.step(f"Wrote {path}" if str(path) in written else f"{path} is up to date")
        return
    if only is None:  # with --app, only the files: one can be redirected into rel/appups
        out.step(f"{upgrade.app} {', '.join(upgrade.from_versions)} -> {upgrade.version}")
    for number, appup in enumerate(appups):
        if number:
            out.info("")
        out.info(appup.text.rstrip())


@cli.group(context_settings=SETTINGS)
def check() -> None:
    """Check the configuration."""


@check.command("config", context_settings=SETTINGS)
@click.argument("environment", required=False, shell_complete=complete_environments)
@click.option(
    "--hosts", "probe", is_flag=True, help="Also connect to every host (read-only) and check it."
)
@pass_context
def check_config(ctx: Context, environment: str | None, probe: bool) -> None:
    """Validate the config file and print what it resolves to; with --hosts, check on every
    host (and the build host) what a build or deploy needs. Exit 1 if anything would fail."""
    config = ctx.config()
    out = ctx.out
    _refuse_unset(config, environment)
    resolved = _resolved(config, out, environment)  # before "valid": it can refuse the file
    out.step(f"{config.source} is valid")
    for line in resolved:
        out.info(line)
    for warning in _dist_warnings(config, environment):
        out.warning(warning)
    if not probe:
        return
    from deliver.commands.check import check_hosts
    from deliver.errors import DeliverError

    findings = check_hosts(config, out, environment, _newest_release_size(config, out))
    out.table(
        ("HOST", "CHECK", "RESULT", "DETAIL"),
        [(f.host, f.check, "ok" if f.ok else "FAIL", f.detail) for f in findings],
    )
    failed = [f for f in findings if not f.ok]
    if failed:
        hosts = ", ".join(dict.fromkeys(f.host for f in failed))
        raise DeliverError(f"{len(failed)} check(s) failed on {hosts}: a deploy would fail")
    out.step(f"Every host is ready ({len(dict.fromkeys(f.host for f in findings))} checked)")


def _refuse_unset(config: Config, environment: str | None) -> None:
    """Every `${VAR}` the checked environments (and the build and hooks) take from an unset
    variable, at once: a deploy would refuse the first, then the next."""
    from deliver.errors import ConfigError

    if environment is not None and environment not in config.environments:
        config.environment(environment)  # refused, with a suggestion
    prefixes = ("build.", "hooks.", f"environments.{environment}." if environment else "")
    unset = [error for error in config.unset if error.key.startswith(prefixes)]
    if not unset:
        return
    names = ", ".join(f"{e.key}: {e.problem}" for e in unset)
    error = ConfigError(config.source, "", f"{len(unset)} value(s) from unset variables: {names}")
    error.hint = "set them in the shell (or the CI job) that runs deliver, then check again"
    raise error


def _resolved(config: Config, out: Output, environment: str | None) -> list[str]:
    """What the config resolves to, one line per setting that matters (secrets masked)."""
    from deliver.commands.schedule import describe
    from deliver.hooks import Hooks
    from deliver.host.manager import summary

    lines = [f"app: {config.app}"]
    if config.build:
        build = config.build
        lines.append(
            f"build: {build.host.name}:{build.at} (tool {build.tool}, MIX_ENV={build.mix_env})"
        )
    lines.append(f"release store: {config.release_store}")
    # through environment(): an unset ${VAR} of one of them fails the check, naming it
    envs = [
        config.environment(name) for name in ([environment] if environment else config.environments)
    ]
    for env in envs:
        hosts = ", ".join(h.name for h in env.hosts)
        dist = f", dist: {env.dist_interface}" if env.dist_interface else ""
        lines.append(f"{env.name}: {hosts} -> {env.deliver_to} (primary {env.primary.name}{dist})")
        lines.append(f"  restarts: {describe(env.rollout, len(env.hosts))}")
        for host in env.hosts:
            variables = env.host_env(host)
            shown = " ".join(f"{name}={value}" for name, value in variables.items()) or "-"
            lines.append(f"  {host.name} env: {shown}")
            lines.append(f"  {host.name} node: {summary(env.manager(host.name), config.app)}")
    check = config.health_check
    lines.append(
        f"health check: node answers{f', then {check.url}' if check.url else ''} "
        f"(timeout {check.timeout:g}s, {check.retries} tries)"
    )
    tasks = config.migration_tasks()
    lines.append(f"migrations: up {tasks.up}; down {tasks.down}; status {tasks.status}")
    links = config.links
    if links:
        lines.append(
            f"links: dirs {list(links.linked_dirs)}, files {list(links.linked_files)}, "
            f"overrides {dict(links.overrides)}"
        )
    lines.append(
        f"keep_releases: {config.keep_releases}; start_timeout {config.start_timeout:g}s, "
        f"stop_timeout {config.stop_timeout:g}s, connect_timeout {config.ssh.connect_timeout:g}s"
    )
    hooks = Hooks.load(config, out).by_point
    lines += [
        f"hook {point}: {hook.name} (runs on {hook.runs_on})"
        for point, point_hooks in hooks.items()
        for hook in point_hooks
    ]
    return lines


def _dist_warnings(config: Config, environment: str | None) -> list[str]:
    """One per environment whose nodes' distribution listens on every interface without the
    config saying so (`dist: {interface: all}`, written out, is a choice)."""
    names = [environment] if environment else list(config.environments)
    return [
        f"{name}: the nodes' Erlang distribution listens on every interface: whoever reaches "
        "its port with the cookie runs code as the deploy user; set "
        f"environments.{name}.dist.interface: loopback (or all to keep it)"
        for name in names
        if config.environment(name).dist_interface is None
    ]


def _newest_release_size(config: Config, out: Output) -> int | None:
    """The newest stored release's size, for the disk check; None when it cannot be known."""
    from deliver.commands.store import show_releases
    from deliver.errors import DeliverError

    try:
        releases = show_releases(config, out).releases
    except DeliverError:
        return None
    return releases[-1].size if releases else None
