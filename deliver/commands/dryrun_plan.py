"""What a dry run says each host would go through, in the order the command would do it,
from what its probe read (dryrun.py): the upload or its skip, the extraction, the links and
hooks, the migrations, the switch, the restart, the pruning. Plain logic: no host is asked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from deliver.commands.rollback import choose_target
from deliver.commands.schedule import Rollout
from deliver.commands.targets import Targets
from deliver.config import Config
from deliver.errors import UsageError
from deliver.hooks import Hooks
from deliver.host.layout import Event, HostReleases
from deliver.release import Release, now

START_POINTS = ("pre_start_deployed_release", "post_start_deployed_release")


@dataclass(frozen=True)
class DryRun:
    """The command a dry run stands for, with what it was given."""

    #: deploy, deploy upgrade, downgrade, update, upgrade, rollback, restart, start, stop,
    #: migrate
    command: str
    environment: str
    hosts: tuple[str, ...] = ()
    version: str | None = None
    start: bool = False
    run_migrations: bool = False
    direction: str = "up"
    rollout: Rollout | None = None
    #: update, upgrade: what they would build (--revision, --tag / --to, --branch)
    revision: str | None = None
    tag: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class Found:
    """What the probe read on one host."""

    root: str  # deliver_to as the host resolves it (as the preflight will), made or not
    releases: HostReleases | None  # None: nothing deployed yet
    archive_sha256: str
    lock: str  # the deploy lock's holder line, "" when free


def host_plans(
    config: Config,
    request: DryRun,
    chosen: Targets,
    release: Release | None,
    found: Mapping[str, Found],
    hooks: Hooks | None,
    fetch_from: str | None = None,
) -> dict[str, list[str]]:
    """Each host's lines; the first item of each list is the version it would switch to."""
    if request.command == "rollback":
        known = {n: f.releases for n, f in found.items() if f.releases is not None}
        if len(known) < len(found):
            raise UsageError("rollback: a host has no release deployed: nothing to go back to")
        target = choose_target(known, request.version)
        return {
            n: [target, *_rollback_lines(f, target), *hook_lines(hooks, START_POINTS)]
            for n, f in found.items()
        }
    primary = chosen.env.primary.name
    plans: dict[str, list[str]] = {}
    for name, host in found.items():
        lines = list(_lock_lines(host))
        if request.command == "deploy" and release is not None:
            primary_host = name == primary
            lines += _deploy_lines(config, request, host, release, hooks, primary_host, fetch_from)
        else:
            lines += _node_lines(config, request, host)
            if request.command in ("restart", "start") and host.releases is not None:
                lines += hook_lines(hooks, START_POINTS)
        current = host.releases.current if host.releases else None
        plans[name] = [release.version if release else (current or ""), *lines]
    return plans


def _lock_lines(host: Found) -> Iterator[str]:
    if host.lock:
        yield f"the deploy lock is held ({host.lock}): the command would be refused"


def _deploy_lines(
    config: Config,
    request: DryRun,
    host: Found,
    release: Release,
    hooks: Hooks | None,
    primary: bool,
    fetch_from: str | None,
) -> Iterator[str]:
    state = host.releases
    size = f"{release.size / 1e6:.1f} MB"  # as the build and the store say it
    if host.archive_sha256 == release.sha256:
        yield f"skip the upload: {release.archive_name} is there with the same sha256"
    elif fetch_from is not None:  # the host fetches it from the store itself
        yield f"fetch {release.archive_name} ({size}) from {fetch_from}, verify its sha256"
    else:
        yield f"upload {release.archive_name} ({size}) and verify its sha256"
    yield f"extract it into releases/{release.version}, write deliver.env"
    links = config.links
    if links.linked_dirs or links.linked_files or links.overrides:
        shared = [*links.linked_dirs, *links.linked_files, *links.overrides.values()]
        yield f"link {', '.join(shared)}"
    yield from hook_lines(hooks, ("pre_extract_release_archive", "post_extract_release_archive"))
    if request.run_migrations and primary:
        yield f"run migrations (primary host): {config.migration_tasks().up}"
    current = state.current if state else None
    yield f"switch current: {current or '(none)'} -> {release.version}"
    running = state.running if state else None
    if request.start:
        stop = f"stop the node started from {running}, " if running else ""
        yield f"restart: {stop}start {release.version}, wait until it answers"
        if config.health_check.url:
            yield f"health check: {config.health_check.url}"
        yield from hook_lines(hooks, START_POINTS)
    elif running and running != release.version:
        yield f"the node keeps running {running} until restarted"
    yield _prune_line(config, after_switch(state, release.version, ""))


def after_switch(state: HostReleases | None, version: str, root: str) -> HostReleases:
    """What the host would hold after the switch, for the pruning that follows it."""
    base = state or HostReleases("", root, None, None, "mix")
    present = tuple(sorted({*base.present, version}))
    history = (*base.history, Event(now(), "deployed", version))
    return replace(base, current=version, present=present, history=history)


def _prune_line(config: Config, releases: HostReleases) -> str:
    doomed = releases.prunable(config.keep_releases)
    if not doomed:
        return f"prune: nothing (keep_releases {config.keep_releases})"
    return f"prune: remove {', '.join(doomed)} (keep_releases {config.keep_releases})"


def hook_lines(hooks: Hooks | None, points: Sequence[str]) -> Iterator[str]:
    for point in points:
        for hook in hooks.by_point.get(point, []) if hooks else []:
            yield f"hook {point}: {hook.name} (on {hook.runs_on})"


def _rollback_lines(host: Found, target: str) -> Iterator[str]:
    yield from _lock_lines(host)
    state = host.releases
    assert state is not None
    yield f"switch current: {state.current} -> {target}, mark {state.current} rolled back"
    running = f"stop the node started from {state.running}, " if state.running else ""
    yield f"restart: {running}start {target}, wait until it answers"


def _node_lines(config: Config, request: DryRun, host: Found) -> Iterator[str]:
    state = host.releases
    if state is None and request.command == "update":  # a deploy: a first one is fine
        built = request.version or "the new build"
        yield f"nothing is deployed here yet: upload, extract and switch current to {built}"
        return
    if state is None:
        yield f"nothing is deployed here: {request.command} would fail"
        return
    command = request.command
    if command == "stop":
        if state.running:
            yield f"stop the node started from {state.running}"
        else:
            yield "nothing to stop: no node was started from a release here"
    elif command == "start":
        yield f"start {state.current} unless its node is up, wait until it answers"
    elif command == "restart":
        stop = f"stop the node started from {state.running}, " if state.running else ""
        yield f"restart: {stop}start {state.current}, wait until it answers"
    elif command == "migrate":
        tasks = config.migration_tasks()
        task = tasks.up if request.direction == "up" else tasks.down
        yield f"migrate {request.direction} on the primary host: {task}"
    elif command == "update":
        built = f"the new build, {request.version}" if request.version else "the new build"
        if request.version and state.current == request.version:
            yield f"{request.version} is current here already: the deploy leaves it alone"
            return
        yield (
            f"build the release on the build host, then deploy it: upload, extract, switch "
            f"current from {state.current} to {built}"
        )
        if request.start:
            yield f"restart: stop the node started from {state.running}, start the new build"
    elif command == "upgrade":
        runs = state.running or state.current
        if request.version and runs == request.version:
            yield f"runs {runs} already, the version it would build: upgrade refuses, nothing to do"
            return
        to = f" to {request.version}" if request.version else ""
        yield (
            f"build the upgrade from {runs} (what the node runs){to} on the build host, then "
            "hot-upgrade the node in place (same OS process)"
        )
