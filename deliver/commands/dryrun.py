"""`--dry-run`: what a mutating command would do, per host, with nothing changed anywhere.

Every host is reached over a DryRunRemote (transport/dryrun.py), which lets through only
this module's read-only probe (the deployed releases, the archive already there, the deploy
lock) and records everything else. From what the probe read, each host's plan is said in
the order the command would do it: the upload or its skip, the extraction, the hooks, the
migrations, the switch (from -> to), the restart, what pruning removes. With `--debug` the
exact commands of the switch, the history and the pruning are printed too, produced by the
code a real run uses on the recording remote. The deploy lock is not taken.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace

from deliver.build.git import resolve_revision
from deliver.commands.dryrun_build import BuildPlan, plan_build
from deliver.commands.dryrun_hot import hot_plans, refused_error
from deliver.commands.dryrun_steps import (
    HostSteps,
    show_deploy,
    show_migrate,
    show_switch_and_restart,
)
from deliver.commands.rollback import choose_target
from deliver.commands.schedule import Rollout, Schedule
from deliver.commands.targets import Targets, reachable, release_store, targets
from deliver.config import Config
from deliver.errors import DeliverError, HostsFailed, NodeError, UsageError
from deliver.hooks import Hooks
from deliver.host.layout import LOCK_DIR, READ_RELEASES, Event, HostReleases, read_host_releases
from deliver.output import Output
from deliver.release import Release, check_version, now
from deliver.release_store import ReleaseStore
from deliver.shell import join, parse_key_values, quote, quote_path
from deliver.transport.dryrun import DryRunRemote
from deliver.transport.fanout import fan_out

PROBE = "dry-run probe"
START_POINTS = ("pre_start_deployed_release", "post_start_deployed_release")
#: The steps a DryRunRemote lets through: layout.py's reader of releases, and PROBE.
READ_ONLY = frozenset({READ_RELEASES, PROBE})


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
class _Found:
    """What the probe read on one host."""

    root: str  # deliver_to as the host resolves it (as the preflight will), made or not
    releases: HostReleases | None  # None: nothing deployed yet
    archive_sha256: str
    lock: str  # the deploy lock's holder line, "" when free


HOT = ("deploy upgrade", "downgrade")


def dry_run(config: Config, out: Output, request: DryRun) -> dict[str, list[str]]:
    """Probe the hosts read-only and print, per host, what `request` would do; returns the
    plan lines by host. Raises what the command itself would refuse with (an unknown release,
    hosts that disagree on a rollback's target, an upgrade its preflight refuses) and
    HostsFailed for unreachable hosts."""
    check_version(request.version)
    chosen = targets(config, request.environment, request.hosts)
    if request.command == "migrate":  # as migrate itself: the primary host only
        chosen = Targets(chosen.env, (chosen.env.primary,))
    with ExitStack() as stack:
        store = None
        if request.command in ("deploy", "deploy upgrade"):
            store = stack.enter_context(release_store(config, out))
        release = _release(config, request, store)
        if release is not None:
            request = replace(request, version=release.version)
        out.step(f"Dry run of {request.command} on {request.environment}: nothing will be changed")
        built = _plan_build(config, out, request)
        if built is not None and request.command == "update":
            request = replace(request, version=built.version)
        with reachable(config, out, chosen.hosts) as (remotes, unreachable):
            sink = out if out.debug else None
            dry = [DryRunRemote(remote, READ_ONLY, sink) for remote in remotes]
            plans, refused = _plan_hosts(config, request, chosen, dry, release, store, out)
    schedule = _schedule_line(request, chosen, list(plans))
    if schedule:
        out.info(f"  {schedule}")
    for name, lines in plans.items():
        for line in lines[1:]:
            out.plan(name, line)
    if unreachable:
        raise HostsFailed("dry run", dict(unreachable), list(plans))
    if refused:
        raise refused_error(refused, list(plans))
    if built is not None and built.problem is not None:
        raise HostsFailed("dry run", {built.host: built.problem}, list(plans))
    out.step(f"Dry run done: nothing was changed on {len(plans)} host(s)")
    return {name: lines[1:] for name, lines in plans.items()}


def _plan_hosts(
    config: Config,
    request: DryRun,
    chosen: Targets,
    dry: list[DryRunRemote],
    release: Release | None,
    store: ReleaseStore | None,
    out: Output,
) -> tuple[dict[str, list[str]], dict[str, DeliverError]]:
    """Each reachable host's plan (and, with --debug, its commands printed as they are
    recorded); the hosts a hot upgrade's preflight refuses."""
    hook_commands = ("deploy", "rollback", "restart", "start", "deploy upgrade")
    hooks = Hooks.load(config, out) if request.command in hook_commands else None
    if request.command in HOT:
        version = request.version or ""
        return hot_plans(config, chosen.env, dry, version, release, store, hooks)
    version = release.version if release else (request.version or "")
    probed = fan_out("dry run", dry, lambda r: _probe(r, chosen, config.app, version))
    found = {h.name: probed[h.name] for h in chosen.hosts if h.name in probed}  # in order
    plans = _plans(config, request, chosen, release, found, hooks)
    for remote in dry:
        _show_commands(config, request, chosen, remote, found[remote.name], plans, release, store)
    return plans, {}


def _plan_build(config: Config, out: Output, request: DryRun) -> BuildPlan | None:
    """update and upgrade build first: what, and what the build host says (printed now)."""
    if request.command not in ("update", "upgrade"):
        return None
    build = config.require_build()
    target = resolve_revision(
        config.project_dir,
        revision=request.revision,
        tag=request.tag,
        branch=request.branch or build.branch,
    )
    built = plan_build(config, out, request.command, target)
    for line in built.lines:
        out.plan(built.host, line)
    return built


def _release(config: Config, request: DryRun, store: ReleaseStore | None) -> Release | None:
    if store is None:
        return None
    kind = "upgrade" if request.command == "deploy upgrade" else "release"
    return store.find(config.app, request.version, kind)


def _probe(remote: DryRunRemote, chosen: Targets, app: str, version: str) -> _Found:
    """The host's releases (layout.py's reader), then the archive of `version` already
    there and the deploy lock: read-only, both."""
    try:
        releases: HostReleases | None = read_host_releases(remote, chosen.env.deliver_to, app)
    except NodeError:  # nothing deployed yet
        releases = None
    archive = f"releases/{quote(version)}.tar.gz.sha256" if version else "/dev/null"
    script = join(
        _resolve_root(chosen.env.deliver_to),
        f"cd {quote_path(chosen.env.deliver_to)} 2>/dev/null || exit 0",
        f"echo ARCHIVE=$(cat {archive} 2>/dev/null)",
        f"echo LOCK=$(head -n 3 {LOCK_DIR}/info 2>/dev/null | tr '\\n' ' ')",
    )
    values = parse_key_values(remote.run(script, step=PROBE).stdout)
    root = releases.root if releases else values.get("ROOT", chosen.env.deliver_to)
    return _Found(root, releases, values.get("ARCHIVE", ""), values.get("LOCK", "").strip())


def _resolve_root(deliver_to: str) -> str:
    """Shell: ROOT=, `deliver_to` as the preflight's `mkdir -p` and `pwd -P` would make it:
    its nearest existing ancestor resolved, the rest appended."""
    return f"""d={quote_path(deliver_to)}; rest=
while [ -n "$d" ] && [ ! -d "$d" ]; do
  rest="/${{d##*/}}$rest"; case $d in */*) d=${{d%/*}} ;; *) d=. ;; esac
done
r=$(cd "${{d:-/}}" && pwd -P); echo ROOT=${{r%/}}$rest"""


def _plans(
    config: Config,
    request: DryRun,
    chosen: Targets,
    release: Release | None,
    found: Mapping[str, _Found],
    hooks: Hooks | None,
) -> dict[str, list[str]]:
    """Each host's lines; the first item of each list is the version it would switch to."""
    if request.command == "rollback":
        known = {n: f.releases for n, f in found.items() if f.releases is not None}
        if len(known) < len(found):
            raise UsageError("rollback: a host has no release deployed: nothing to go back to")
        target = choose_target(known, request.version)
        return {
            n: [target, *_rollback_lines(f, target), *_hook_lines(hooks, START_POINTS)]
            for n, f in found.items()
        }
    primary = chosen.env.primary.name
    plans: dict[str, list[str]] = {}
    for name, host in found.items():
        lines = list(_lock_lines(host))
        if request.command == "deploy" and release is not None:
            lines += _deploy_lines(config, request, host, release, hooks, name == primary)
        else:
            lines += _node_lines(config, request, host)
            if request.command in ("restart", "start") and host.releases is not None:
                lines += _hook_lines(hooks, START_POINTS)
        current = host.releases.current if host.releases else None
        plans[name] = [release.version if release else (current or ""), *lines]
    return plans


def _schedule_line(request: DryRun, chosen: Targets, hosts: list[str]) -> str | None:
    """How the restarts would go through the hosts: the rollout's batches."""
    if not hosts or not (request.start or request.command in ("restart", "rollback")):
        return None
    settings = (request.rollout or Rollout()).settle(chosen.env.rollout)
    return Schedule.plan(hosts, settings, len(chosen.env.hosts)).header("Restart")


def _lock_lines(host: _Found) -> Iterator[str]:
    if host.lock:
        yield f"the deploy lock is held ({host.lock}): the command would be refused"


def _deploy_lines(
    config: Config,
    request: DryRun,
    host: _Found,
    release: Release,
    hooks: Hooks | None,
    primary: bool,
) -> Iterator[str]:
    state = host.releases
    size = f"{release.size / 1e6:.1f} MB"  # as the build and the store say it
    if host.archive_sha256 == release.sha256:
        yield f"skip the upload: {release.archive_name} is there with the same sha256"
    else:
        yield f"upload {release.archive_name} ({size}) and verify its sha256"
    yield f"extract it into releases/{release.version}, write deliver.env"
    links = config.links
    if links.linked_dirs or links.linked_files or links.overrides:
        shared = [*links.linked_dirs, *links.linked_files, *links.overrides.values()]
        yield f"link {', '.join(shared)}"
    yield from _hook_lines(hooks, ("pre_extract_release_archive", "post_extract_release_archive"))
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
        yield from _hook_lines(hooks, START_POINTS)
    elif running and running != release.version:
        yield f"the node keeps running {running} until restarted"
    yield _prune_line(config, _after_switch(state, release.version, ""))


def _after_switch(state: HostReleases | None, version: str, root: str) -> HostReleases:
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


def _hook_lines(hooks: Hooks | None, points: Sequence[str]) -> Iterator[str]:
    for point in points:
        for hook in hooks.by_point.get(point, []) if hooks else []:
            yield f"hook {point}: {hook.name} (on {hook.runs_on})"


def _rollback_lines(host: _Found, target: str) -> Iterator[str]:
    yield from _lock_lines(host)
    state = host.releases
    assert state is not None
    yield f"switch current: {state.current} -> {target}, mark {state.current} rolled back"
    running = f"stop the node started from {state.running}, " if state.running else ""
    yield f"restart: {running}start {target}, wait until it answers"


def _node_lines(config: Config, request: DryRun, host: _Found) -> Iterator[str]:
    state = host.releases
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
        yield (
            f"build the upgrade from {state.running or state.current} (what the node runs) on "
            "the build host, then hot-upgrade the node in place (same OS process)"
        )


def dry_run_store_prune(config: Config, out: Output, keep: int) -> list[Release]:
    """`prune releases --keep N --dry-run`: the store's releases that would be deleted."""
    with release_store(config, out) as store:
        releases = store.releases(config.app)
    doomed = releases[:-keep]
    out.step(f"Dry run of prune releases on {store.location}: nothing will be changed")
    for release in doomed:
        out.info(f"  {store.location}: would remove {release.version}")
    kept = ", ".join(r.version for r in releases[-keep:]) or "nothing"
    out.step(f"Dry run done: {len(doomed)} release(s) would go, {kept} would stay")
    return doomed


def _show_commands(
    config: Config,
    request: DryRun,
    chosen: Targets,
    remote: DryRunRemote,
    host: _Found,
    plans: Mapping[str, list[str]],
    release: Release | None,
    store: ReleaseStore | None,
) -> None:
    """The exact commands of each step the plan says, made by the code a real run uses, on
    the recording remote (printed with --debug as they are recorded)."""
    command, target = request.command, plans[remote.name][0]
    primary = remote.name == chosen.env.primary.name
    has_archive = release is not None and host.archive_sha256 == release.sha256
    steps = HostSteps(chosen.env, host.root, host.releases, has_archive, target, primary)
    if command == "deploy" and release is not None and store is not None:
        show_deploy(config, remote, steps, release, store, run_migrations=request.run_migrations)
    if command == "migrate":
        show_migrate(config, remote, steps, request.direction, request.version)
    restarts = command in ("restart", "start", "stop", "rollback") or request.start
    switches = command in ("deploy", "rollback") and bool(target)
    show_switch_and_restart(
        config,
        remote,
        steps,
        switch=switches,
        stop=restarts and command != "start",
        start=restarts and command != "stop" and (host.releases is not None or switches),
        prune_after=_after_switch(host.releases, target, host.root) if switches else None,
    )
