"""`--dry-run`: what a mutating command would do, per host, with nothing changed anywhere.

Every host is reached over a DryRunRemote (transport/dryrun.py), which lets through only
this module's read-only probe (the deployed releases, the archive already there, the deploy
lock, where deliver_to resolves) and records everything else. From what the probe read, each
host's plan is said in the order the command would do it (dryrun_plan.py); with `--debug`
the exact commands of every step are printed too, made by the functions a real run calls on
the recording remote (dryrun_steps.py). `deploy upgrade`/`downgrade` run the hot preflight
(dryrun_hot.py); `update`/`upgrade` probe the build host first (dryrun_build.py). The deploy
lock is not taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack, suppress
from dataclasses import replace

from deliver.build.git import resolve_revision
from deliver.commands.dryrun_build import BuildPlan, plan_build
from deliver.commands.dryrun_hot import hot_plans, refused_error
from deliver.commands.dryrun_plan import DryRun, Found, host_plans
from deliver.commands.dryrun_steps import (
    HostSteps,
    show_deploy,
    show_migrate,
    show_switch_and_restart,
)
from deliver.commands.rollback import mark_rolled_back
from deliver.commands.schedule import Rollout, Schedule
from deliver.commands.targets import Targets, reachable, release_store, targets
from deliver.config import Config
from deliver.errors import DeliverError, HostsFailed, NodeError
from deliver.hooks import Hooks
from deliver.host.layout import LOCK_DIR, READ_RELEASES, HostReleases, read_host_releases
from deliver.output import Output
from deliver.release import Release, check_version
from deliver.release_store import ReleaseStore
from deliver.shell import join, parse_key_values, quote, quote_path
from deliver.transport.dryrun import DryRunRemote
from deliver.transport.fanout import fan_out

__all__ = ["DryRun", "dry_run", "dry_run_store_prune"]  # DryRun: the CLI builds one

PROBE = "dry-run probe"
#: The steps a DryRunRemote lets through: layout.py's reader of releases, and PROBE.
READ_ONLY = frozenset({READ_RELEASES, PROBE})
#: The upload's mktemp answers a name the commands after it use: a placeholder stands in.
ANSWERS = {"uploading": "<the name mktemp makes>"}
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
        if built is not None:
            request = replace(request, version=built.version)
        with reachable(config, out, chosen.hosts) as (remotes, unreachable):
            sink = out if out.debug else None
            dry = [DryRunRemote(remote, READ_ONLY, sink, ANSWERS) for remote in remotes]
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
    fetch_from = store.location if store is not None and not store.is_local else None
    plans = host_plans(config, request, chosen, release, found, hooks, fetch_from)
    for remote in dry:
        host = found[remote.name]
        _show_commands(config, request, chosen, remote, host, plans, release, store, hooks)
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


def _probe(remote: DryRunRemote, chosen: Targets, app: str, version: str) -> Found:
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
    return Found(root, releases, values.get("ARCHIVE", ""), values.get("LOCK", "").strip())


def _resolve_root(deliver_to: str) -> str:
    """Shell: ROOT=, `deliver_to` as the preflight's `mkdir -p` and `pwd -P` would make it:
    its nearest existing ancestor resolved, the rest appended."""
    return f"""d={quote_path(deliver_to)}; rest=
while [ -n "$d" ] && [ ! -d "$d" ]; do
  rest="/${{d##*/}}$rest"; case $d in */*) d=${{d%/*}} ;; *) d=. ;; esac
done
r=$(cd "${{d:-/}}" && pwd -P); echo ROOT=${{r%/}}$rest"""


def _schedule_line(request: DryRun, chosen: Targets, hosts: list[str]) -> str | None:
    """How the restarts would go through the hosts: the rollout's batches."""
    if not hosts or not (request.start or request.command in ("restart", "rollback")):
        return None
    settings = (request.rollout or Rollout()).settle(chosen.env.rollout)
    return Schedule.plan(hosts, settings, len(chosen.env.hosts)).header("Restart")


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
    host: Found,
    plans: Mapping[str, list[str]],
    release: Release | None,
    store: ReleaseStore | None,
    hooks: Hooks | None,
) -> None:
    """The exact commands of each step the plan says, made by the code a real run uses, on
    the recording remote (printed with --debug as they are recorded)."""
    command, target = request.command, plans[remote.name][0]
    primary = remote.name == chosen.env.primary.name
    has_archive = release is not None and host.archive_sha256 == release.sha256
    steps = HostSteps(chosen.env, host.root, host.releases, has_archive, target, primary, hooks)
    if command == "deploy" and release is not None and store is not None:
        show_deploy(config, remote, steps, release, store, run_migrations=request.run_migrations)
    if command == "migrate":
        show_migrate(config, remote, steps, request.direction, request.version)
    if command == "rollback" and request.version is None and host.releases is not None:
        with suppress(DeliverError):  # rollback's own record of what it leaves
            mark_rolled_back(remote, host.releases, target)
    restarts = command in ("restart", "start", "stop", "rollback") or request.start
    switches = command in ("deploy", "rollback") and bool(target)
    show_switch_and_restart(
        config,
        remote,
        steps,
        switch=switches,
        stop=restarts and command != "start",
        start=restarts and command != "stop" and (host.releases is not None or switches),
        prune=command == "deploy" and bool(target),  # rollback prunes nothing
    )
