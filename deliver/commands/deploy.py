"""`deliver deploy release`: put a stored release on every host of an environment.

Phases, each run on all hosts in parallel over the command's one connection per host:

1. preflight: find the release root, what is current, whether the archive is already there,
   and whether there is room for it; nothing is changed on any host before all pass;
2. prepare (free-running per host): upload the archive unless the host already holds it,
   verify its sha256, extract it into a fresh directory, write the host's env file,
   and link shared files and host-local config into the release (links.py);
3. with --run-migrations: the new release's migrations, on the primary host (migrate.py);
4. switch, only once every host is prepared: rename a new `current` link over the old one,
   an atomic step per host that Ctrl-C cannot interrupt half-way; all or none (switching.py:
   a host whose connection drops is reached again to finish, else the others go back);
5. with --start-deploy, switch and restart batch by batch instead, each batch healthy
   before the next (rollout.py; by default a quarter of the hosts at a time, at least one);
6. prune each host to `keep_releases`, chosen and removed by one script (host/prune.py).

A deploy is resumable: a host that already boots and runs the release (with --start-deploy;
without it, whose `current` already names it) is left alone, so running the same command again
after a failure or a Ctrl-C finishes the job on the others. A failure after a switch takes the
switched hosts back (all or nothing, unless --no-revert or a --batch of the run's own), and
every failure, like a Ctrl-C, ends with what each host runs and the command to finish or undo
(report.py). The first Ctrl-C finishes the step in flight and begins no other; the second
abandons it.

Hooks: pre/post_extract_release_archive around each host's extraction (phase 2), and
pre/post_start_deployed_release around each host's restart (phase 5, in rollout.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace

from deliver.commands.migrate import migrate_new_release, primary_remote
from deliver.commands.report import Recovery, reporting, stop_if_interrupted, watch
from deliver.commands.rollout import HostPlan, roll_out
from deliver.commands.schedule import Rollout
from deliver.commands.switching import Switch
from deliver.commands.targets import (
    Targets,
    connected_and_locked,
    release_store,
    targets,
)
from deliver.config import Config
from deliver.errors import HostsFailed, UsageError
from deliver.hooks import Hooks, StartHooks, deploy_env
from deliver.host.env import differs
from deliver.host.health import HealthUrl, health_urls
from deliver.host.prune import prune_host
from deliver.host.state import host_now
from deliver.host.unpack import Preflight, node_env_text, preflight, receive, upload
from deliver.output import Output
from deliver.release import Release, check_version
from deliver.release_store import LocalStore, ReleaseStore
from deliver.transport.fanout import fan_out
from deliver.transport.interrupts import Interrupts
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
    revert: bool = True,
) -> Release:
    """Deploy `version` (default: the newest in the store) to the environment's hosts that do
    not run it yet. A host holding another build of it refuses it unless `force` replaces it
    (never the directory a node runs from: host/unpack.py). With `run_migrations`, the new
    release's migrations run on the primary host before any host is switched; with `start`,
    hosts are switched and restarted batch by batch as the environment's `rollout:` and
    `rollout` say (rollout.py); without `revert`, a failure leaves the hosts as it found
    them. Afterwards each host is pruned to `keep_releases`.

    Raises ReleaseNotFound, HostsFailed naming each host that failed a phase (no host is
    switched unless all were prepared), RolloutStopped, Interrupted (Ctrl-C), InvalidArgument
    (an unknown host, a bad `version`); each carries every host's state (report.py)."""
    check_version(version)
    chosen = targets(config, environment, hosts)
    rollout = _settled(rollout, start, revert)
    urls = health_urls(config.health_check, chosen.env, chosen.hosts) if start else {}
    with release_store(config, out) as store:
        release = store.find(config.app, version)
        out.step(
            f"Deploying {release.app} {release.version} ({release.commit[:10]}) to "
            f"{environment}: {chosen.names}"
        )
        hooks = Hooks.load(config, out)
        recovery = _recovery(environment, release.version, start, hosts)
        command = f"deploy release {release.version}"
        with (
            reporting(config, out, chosen, recovery) as watches,
            ExitStack() as spare,  # connections opened again, open until the lock is given back
            connected_and_locked(config, out, chosen, command) as remotes,
            watch(out, watches) as interrupts,
        ):
            deploy = _Deploy(config, out, chosen, release, store, remotes, hooks, force, spare)
            checks = deploy.preflight()
            recovery.before.update({name: check.current for name, check in checks.items()})
            todo = deploy.not_done(checks, start)
            if not todo:
                out.step(f"Every host already runs {release.version}: nothing to do")
                return release
            steps = _Steps(run_migrations, start, rollout or Rollout(), urls, revert)
            fresh = replace(deploy, remotes=todo).run(checks, steps, interrupts)
            remotes[:] = [fresh.get(r.name, r) for r in remotes]  # for the prune and the lock
            if not interrupts.stopping:  # a Ctrl-C during the last step: stop at that
                prune_hosts(out, remotes, chosen.env.deliver_to, config.keep_releases)
    out.step(f"Deployed {release.app} {release.version} to {environment}")
    if not start:
        _say_what_runs(out, environment, release, checks)
    return release


def _settled(rollout: Rollout | None, start: bool, revert: bool) -> Rollout | None:
    """The run's rollout: only with start; without `revert` the failed hosts stay too."""
    if rollout and not start:
        raise UsageError("a rollout (batches, rollback on failure) needs start")
    if start and not revert:
        return replace(rollout or Rollout(), rollback_on_failure=False)
    return rollout


def _recovery(environment: str, version: str, start: bool, hosts: Sequence[str]) -> Recovery:
    """How to go on after a failure: the same deploy again (it resumes where it stopped)."""
    flags = " --start-deploy" if start else ""
    flags += "".join(f" --host {host}" for host in hosts)
    again = f"deliver deploy release to {environment} --version {version}{flags}"
    return Recovery(environment, again, version, start)


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
class _Steps:
    """What one deploy does after preparing the hosts, as its flags say."""

    run_migrations: bool
    start: bool
    rollout: Rollout
    urls: Mapping[str, HealthUrl]
    revert: bool


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
    #: where connections opened again during the command are kept open until its end
    spare: ExitStack | None = None

    def preflight(self) -> dict[str, Preflight]:
        """Read-only (but for creating the release root): what each host has, whether there is
        room, and whether it can fetch from the store if it lacks the archive."""

        def check_host(remote: Remote) -> Preflight:
            check = preflight(remote, self.targets.env, self.release, force=self.force)
            if not check.has_archive and not check.has_release:
                self.store.check_host(remote)
            return check

        return fan_out("preflight", self.remotes, check_host)

    def not_done(self, checks: dict[str, Preflight], start: bool) -> list[Remote]:
        """The hosts this deploy still has to touch: a rerun resumes. Done is `current`
        naming the release with the env `.deliver` gives the host and, with `start`, a node
        started from it that answers."""
        version, env = self.release.version, self.targets.env
        # the same build only: another one (--force replaces it) is not done; nor is a host
        # whose env changed since (the deploy writes and boots the new one)
        candidates = [
            r
            for r in self.remotes
            if checks[r.name].current == version
            and checks[r.name].has_release
            and not differs(env, r.host, checks[r.name].env_sha256)
        ]
        if start:
            on = [r for r in candidates if checks[r.name].running == version]
            up = fan_out("checking the nodes", on, self.answers)
            candidates = [r for r in on if up[r.name]]
        for remote in candidates:
            self.out.host_status(remote.name, True, f"already on {version}: left alone")
        return [r for r in self.remotes if r not in candidates]

    def answers(self, remote: Remote) -> bool:
        return host_now(remote, self.targets.env.deliver_to, self.config.app).up is True

    def run(
        self, checks: dict[str, Preflight], steps: _Steps, interrupts: Interrupts
    ) -> dict[str, Remote]:
        """Prepare every host, run the migrations, then switch (and restart); a first Ctrl-C
        lets the step in flight finish and begins no other. Returns the new connections
        that replaced ones lost during the switch."""
        stop_if_interrupted(interrupts, "uploading")
        self.prepare(checks)
        if steps.run_migrations:
            stop_if_interrupted(interrupts, "the migrations")
            primary = primary_remote(self.targets.env, self.remotes)
            root = checks[primary.name].root
            migrate_new_release(self.config, self.out, primary, root, self.release)
        stop_if_interrupted(interrupts, "any host was switched")
        if steps.start:
            self.restart(checks, steps.rollout, steps.urls)
            return {}
        return self.switch(checks, steps.revert)

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
        self.hooks.around(
            "extract_release_archive",
            remote,
            hook_env,
            lambda: receive(remote, check, release, env_text, links, archive, progress),
        )
        self.out.host_status(remote.name, True, f"{release.version} ready", version=release.version)

    def restart(
        self, checks: dict[str, Preflight], rollout: Rollout, urls: Mapping[str, HealthUrl]
    ) -> None:
        """--start-deploy: switch and restart batch by batch, each batch healthy first."""
        config, env = self.config, self.targets.env
        hooks = StartHooks(config, self.out, env)
        plans = _plans(self.release, checks)
        roll_out(config, self.out, env, self.remotes, plans, rollout, urls, hooks)

    def switch(self, checks: dict[str, Preflight], revert: bool) -> dict[str, Remote]:
        """Point `current` at the release on every host, all or none (switching.py): a host
        whose connection drops is reached again to finish; where one cannot be switched, the
        others go back to what they had current, unless not `revert`."""
        assert self.spare is not None
        roots = {name: check.root for name, check in checks.items()}
        before = {name: check.current for name, check in checks.items()}
        step = Switch(self.config, self.out, self.release.version, roots, before, self.spare)
        return step.run(self.remotes, revert)


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
    out: Output, remotes: Sequence[Remote], deliver_to: str, keep: int
) -> dict[str, list[str]]:
    """After a successful deploy: prune every host down to `keep` releases, report removals."""

    def on_host(remote: Remote) -> list[str]:
        removed = prune_host(remote, deliver_to, keep)  # chosen and removed in one script
        if removed:
            out.host_status(remote.name, True, f"removed {', '.join(removed)}")
        return removed

    out.detail(f"Pruning old releases (keep_releases: {keep})")
    try:
        return fan_out("prune", remotes, on_host)
    except HostsFailed as failed:  # the deploy itself succeeded: say so, and exit 0
        out.warning(f"old releases were not pruned: {failed}")
        return {}
