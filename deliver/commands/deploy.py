"""`deliver deploy release`: put a stored release on every host of an environment.

Phases, each run on all hosts in parallel over the command's one connection per host:

1. preflight: find the release root, what is current, whether the archive is already there,
   and whether there is room for it; nothing is changed on any host before all pass;
2. prepare (free-running per host): upload the archive unless the host already holds it,
   verify its sha256, extract it into a fresh directory, write the host's env file,
   and link shared files and host-local config into the release (links.py);
3. with --run-migrations: the new release's migrations, on the primary host (migrate.py);
4. switch, only once every host is prepared: rename a new `current` link over the old one,
   an atomic step per host that Ctrl-C cannot interrupt half-way;
5. with --start-deploy, switch and restart batch by batch instead, each batch healthy
   before the next (rollout.py);
6. prune each host to `keep_releases` (host_releases.py).

Hooks: pre/post_extract_release_archive around each host's extraction (phase 2), and
pre/post_start_deployed_release around each host's restart (phase 5, in rollout.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

from deliver.commands.migrate import migrate_new_release, primary_remote
from deliver.commands.rollout import HostPlan, Rollout, partial_switch_explained, roll_out
from deliver.commands.targets import select_hosts
from deliver.config import Config
from deliver.errors import HostsFailed, UsageError
from deliver.hooks import Hooks, StartHooks, deploy_env
from deliver.host.health import health_urls
from deliver.host.layout import prune, read_host_releases
from deliver.host.links import link_release
from deliver.host.unpack import (
    Preflight,
    extract,
    preflight,
    switch,
    upload,
)
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import open_store
from deliver.shell import env_file_text
from deliver.transport.fanout import connect_all, fan_out, interrupts_deferred
from deliver.transport.remote import Remote


def deploy_release(
    config: Config,
    out: Output,
    environment: str,
    *,
    version: str | None = None,
    hosts: Sequence[str] = (),
    start: bool = False,
    run_migrations: bool = False,
    rollout: Rollout | None = None,
) -> Release:
    """Deploy `version` (default: the newest in the store) to the environment's hosts.

    With `run_migrations`, the new release's migrations run on the primary host before any
    host is switched; with `start`, hosts are switched and restarted batch by batch (rollout.py).
    Afterwards each host is pruned to `keep_releases`.

    Raises ReleaseNotFound, HostsFailed naming each host that failed a phase (no host is
    switched unless all were prepared), RolloutStopped, UsageError for a bad --host.
    """
    env = config.environment(environment)
    targets = select_hosts(env, hosts)
    if rollout and not start:
        raise UsageError("--batch and --rollback-on-failure need --start-deploy")
    urls = health_urls(config.health_check, env, targets) if start else {}
    with ExitStack() as opened:
        store = opened.enter_context(open_store(config, out, verbose=out.verbose, debug=out.debug))
        release = store.find(config.app, version)
        hooks = Hooks.load(config, out)
        names = ", ".join(h.name for h in targets)
        out.step(
            f"Deploying {release.app} {release.version} ({release.commit[:10]}) to "
            f"{environment}: {names}"
        )
        remotes = opened.enter_context(
            connect_all(targets, config.ssh, out, verbose=out.verbose, debug=out.debug)
        )

        def check_host(remote: Remote) -> Preflight:
            check = preflight(remote, env, release)
            if not check.has_archive:
                store.check_host(remote)
            return check

        checks = fan_out("preflight", remotes, check_host)
        uploads = [r for r in remotes if not checks[r.name].has_archive]
        skipped = len(remotes) - len(uploads)
        transfer = "Uploading to" if store.is_local else f"Fetching from {store.location} onto"
        out.step(
            f"{transfer} {len(uploads)} host(s) and extracting"
            + (f" ({skipped} already had the archive)" if skipped else "")
        )
        totals = {r.name: release.size for r in uploads} if store.is_local else {}
        with out.progress("uploading to", totals) as advance:

            def prepare_host(remote: Remote) -> None:
                check = checks[remote.name]
                if not check.has_archive:
                    upload(remote, check.root, release, store, advance(remote.name))
                hook_env = deploy_env(
                    config, env, remote, check.root, release.version, release.commit, release.branch
                )

                def unpack() -> None:
                    extract(remote, check, release, env_file_text(env.host_env(remote.host)))
                    link_release(remote, check.root, release.version, config.links)

                hooks.around("extract_release_archive", remote, hook_env, unpack)
                out.host_status(remote.name, True, f"{release.version} ready")

            fan_out("prepare", remotes, prepare_host)
        if run_migrations:
            primary = primary_remote(env, remotes)
            migrate_new_release(config, out, primary, checks[primary.name].root, release)
        if start:
            plans = {
                name: HostPlan(
                    check.root,
                    release.tool,
                    check.current,
                    release.version,
                    switch=True,
                    fallback=check.current if check.current != release.version else None,
                )
                for name, check in checks.items()
            }
            roll_out(
                config,
                out,
                remotes,
                plans,
                rollout or Rollout(),
                urls,
                StartHooks(config, out, env),
            )
        else:
            out.step(f"Switching to {release.version}")
            with interrupts_deferred(), partial_switch_explained():
                fan_out(
                    "switch", remotes, lambda r: switch(r, checks[r.name].root, release.version)
                )
        prune_hosts(out, remotes, env.deliver_to, config.app, config.keep_releases)
    out.step(f"Deployed {release.app} {release.version} to {environment}")
    return release


def prune_hosts(
    out: Output, remotes: Sequence[Remote], deliver_to: str, app: str, keep: int
) -> dict[str, list[str]]:
    """After a successful deploy: prune every host down to `keep` releases, report removals."""

    def on_host(remote: Remote) -> list[str]:
        removed = prune(remote, read_host_releases(remote, deliver_to, app), keep)
        if removed:
            out.host_status(remote.name, True, f"removed {', '.join(removed)}")
        return removed

    out.detail(f"Pruning old releases (keep_releases: {keep})")
    try:
        return fan_out("prune", remotes, on_host)
    except HostsFailed as failed:  # the deploy itself succeeded: say so, and exit 0
        out.warning(f"old releases were not pruned: {failed}")
        return {}
