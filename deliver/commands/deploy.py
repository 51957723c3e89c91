"""`deliver deploy release`: put a stored release on every host of an environment.

Phases, each run on all hosts in parallel over the command's one connection per host:

1. preflight: find the release root, what is current, whether the archive is already there,
   and whether there is room for it; nothing is changed on any host before all pass;
2. prepare (free-running per host), one script per host: the archive streams over the
   connection straight into extraction into a fresh directory while the host hashes it in
   the same pass (unless the host holds it: then nothing is sent), the sha256 is checked
   before the directory gets its name, then the host's env file and the links of shared
   files and host-local config (unpack.receive, links.py). With an SSH or S3 store the host
   fetches the archive from the store first;
3. with --run-migrations: the new release's migrations, on the primary host (migrate.py);
4. switch, only once every host is prepared: rename a new `current` link over the old one,
   an atomic step per host that Ctrl-C cannot interrupt half-way;
5. with --start-deploy, switch and restart batch by batch instead, each batch healthy
   before the next (rollout.py; by default a quarter of the hosts at a time, at least one);
6. prune each host to `keep_releases` (host_releases.py).

Hooks: pre/post_extract_release_archive around each host's transfer and extraction (phase 2:
they are one step now), and
pre/post_start_deployed_release around each host's restart (phase 5, in rollout.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from deliver.commands.migrate import migrate_new_release, primary_remote
from deliver.commands.rollout import HostPlan, partial_switch_explained, roll_out
from deliver.commands.schedule import Rollout
from deliver.commands.targets import (
    Targets,
    connected_and_locked,
    release_store,
    targets,
)
from deliver.config import Config
from deliver.errors import HostsFailed, UsageError
from deliver.hooks import Hooks, StartHooks, deploy_env
from deliver.host.health import HealthUrl, health_urls
from deliver.host.layout import HostReleases, prune, read_host_releases, switch_and_read
from deliver.host.systemd import systemd_env_text, write_systemd_env
from deliver.host.unpack import Preflight, node_env_text, preflight, receive, upload
from deliver.output import Output
from deliver.release import Release, check_version
from deliver.release_store import LocalStore, ReleaseStore
from deliver.transport.fanout import fan_out, interrupts_deferred
from deliver.transport.remote import Progress, Remote


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
    force: bool = False,
) -> Release:
    """Deploy `version` (default: the newest in the store) to the environment's hosts.

    A host holding another build of that version refuses it unless `force` replaces it
    (never the directory a node runs from: host/unpack.py).

    With `run_migrations`, the new release's migrations run on the primary host before any
    host is switched; with `start`, hosts are switched and restarted batch by batch as the
    environment's `rollout:` and `rollout` say (rollout.py).
    Afterwards each host is pruned to `keep_releases`.

    Raises ReleaseNotFound, HostsFailed naming each host that failed a phase (no host is
    switched unless all were prepared), RolloutStopped, InvalidArgument for an unknown host or
    a `version` that is not one.
    """
    check_version(version)
    chosen = targets(config, environment, hosts)
    if rollout and not start:
        raise UsageError("a rollout (batches, rollback on failure) needs start")
    urls = health_urls(config.health_check, chosen.env, chosen.hosts) if start else {}
    with release_store(config, out) as store:
        release = store.find(config.app, version)
        out.step(
            f"Deploying {release.app} {release.version} ({release.commit[:10]}) to "
            f"{environment}: {chosen.names}"
        )
        hooks = Hooks.load(config, out)
        command = f"deploy release {release.version}"
        with connected_and_locked(config, out, chosen, command) as remotes:
            deploy = _Deploy(config, out, chosen, release, store, remotes, hooks, force)
            checks = deploy.preflight()
            deploy.prepare(checks)
            if run_migrations:
                primary = primary_remote(chosen.env, remotes)
                migrate_new_release(config, out, primary, checks[primary.name].root, release)
            if start:
                deploy.restart(checks, rollout or Rollout(), urls)
                found = None
            else:
                found = deploy.switch(checks)
            keep = config.keep_releases
            prune_hosts(out, remotes, chosen.env.deliver_to, config.app, keep, found)
    out.step(f"Deployed {release.app} {release.version} to {environment}")
    if not start:
        _say_what_runs(out, environment, release, checks)
    return release


def _say_what_runs(
    out: Output, environment: str, release: Release, checks: dict[str, Preflight]
) -> None:
    """Without --start-deploy the nodes keep running what they were started from: say so,
    and which command boots the new release."""
    old = {name: check.running for name, check in checks.items() if check.running}
    stale = {name: version for name, version in old.items() if version != release.version}
    if stale:
        each = ", ".join(f"{name} {version}" for name, version in stale.items())
        out.info(
            f"the nodes keep running what they were started from ({each}) until restarted: "
            f"deliver restart {environment} boots {release.version}"
        )
    stopped = [name for name in checks if name not in old]
    if stopped:
        out.info(
            f"no node was started on {', '.join(stopped)}: "
            f"deliver start {environment} boots {release.version}"
        )


@dataclass(frozen=True)
class _Deploy:
    """The phases of one deploy, each on every host in parallel over the command's
    connections."""

    config: Config
    out: Output
    targets: Targets
    release: Release
    store: ReleaseStore
    remotes: list[Remote]
    hooks: Hooks
    force: bool = False  # --force: replace another build of the version on a host

    def preflight(self) -> dict[str, Preflight]:
        """Read-only (but for creating the release root): what each host has, whether there is
        room, and whether it can fetch from the store if it lacks the archive."""

        def check_host(remote: Remote) -> Preflight:
            check = preflight(remote, self.targets.env, self.release, force=self.force)
            if not check.has_archive and not check.has_release:
                self.store.check_host(remote)
            return check

        return fan_out("preflight", self.remotes, check_host)

    def prepare(self, checks: dict[str, Preflight]) -> None:
        """Upload (where missing), verify, extract and link the release on every host."""
        held = {name for name, check in checks.items() if check.has_archive or check.has_release}
        uploads = [r for r in self.remotes if r.name not in held]
        skipped = len(self.remotes) - len(uploads)
        store = self.store
        transfer = "Uploading to" if store.is_local else f"Fetching from {store.location} onto"
        self.out.step(
            f"{transfer} {len(uploads)} host(s) and extracting"
            + (f" ({skipped} already had it)" if skipped else "")
        )
        totals = {r.name: self.release.size for r in uploads} if store.is_local else {}
        with self.out.progress("uploading to", totals) as advance:
            fan_out(
                "prepare",
                self.remotes,
                lambda r: self.prepare_host(r, checks[r.name], advance(r.name)),
            )

    def prepare_host(self, remote: Remote, check: Preflight, progress: Progress) -> None:
        release, env, store = self.release, self.targets.env, self.store
        archive = None
        if not check.has_release and not check.has_archive:
            if isinstance(store, LocalStore):
                archive = store.archive(release)  # streamed into extraction (unpack.receive)
            else:  # the host fetches it from the store, then extracts what it holds
                upload(remote, check.root, release, store, progress)
                check = replace(check, has_archive=True)
        hook_env = deploy_env(
            self.config, env, remote, check.root, release.version, release.commit, release.branch
        )
        env_text = node_env_text(env, remote.host)
        links = self.config.links

        def unpack() -> None:
            receive(remote, check, release, env_text, links, archive, progress)
            if env.manager(remote.name).manager == "systemd":  # its unit reads its own format
                write_systemd_env(remote, check.root, systemd_env_text(env, remote.host))

        self.hooks.around("extract_release_archive", remote, hook_env, unpack)
        self.out.host_status(remote.name, True, f"{release.version} ready", version=release.version)

    def restart(
        self, checks: dict[str, Preflight], rollout: Rollout, urls: Mapping[str, HealthUrl]
    ) -> None:
        """--start-deploy: switch and restart batch by batch, each batch healthy first."""
        config, env = self.config, self.targets.env
        hooks = StartHooks(config, self.out, env)
        plans = _plans(self.release, checks)
        roll_out(config, self.out, env, self.remotes, plans, rollout, urls, hooks)

    def switch(self, checks: dict[str, Preflight]) -> dict[str, HostReleases]:
        """Point `current` at the release on every host; Ctrl-C waits until all are done.
        Returns what each host then holds (the same script reads it, for pruning)."""
        self.out.step(f"Switching to {self.release.version}")
        version, app = self.release.version, self.config.app
        with interrupts_deferred(), partial_switch_explained():
            return fan_out(
                "switch",
                self.remotes,
                lambda r: switch_and_read(r, checks[r.name].root, version, app),
            )


def _plans(release: Release, checks: dict[str, Preflight]) -> dict[str, HostPlan]:
    """--start-deploy: switch each host to the release and restart it; a failed batch can go
    back to what the host had current."""
    return {
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


def prune_hosts(
    out: Output,
    remotes: Sequence[Remote],
    deliver_to: str,
    app: str,
    keep: int,
    found: Mapping[str, HostReleases] | None = None,
) -> dict[str, list[str]]:
    """After a successful deploy: prune every host down to `keep` releases, report removals;
    `found` is what the hosts hold, where the switch already read it."""

    def on_host(remote: Remote) -> list[str]:
        held = found.get(remote.name) if found else None
        removed = prune(remote, held or read_host_releases(remote, deliver_to, app), keep)
        if removed:
            out.host_status(remote.name, True, f"removed {', '.join(removed)}")
        return removed

    out.detail(f"Pruning old releases (keep_releases: {keep})")
    try:
        return fan_out("prune", remotes, on_host)
    except HostsFailed as failed:  # the deploy itself succeeded: say so, and exit 0
        out.warning(f"old releases were not pruned: {failed}")
        return {}
