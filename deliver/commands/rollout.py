"""Restarting an environment batch by batch, each batch healthy before the next begins.

Used by `restart`, by `deploy release --start-deploy` and by `rollback`. The batches come from
the environment's `rollout:` settings and the run's flags (schedule.py): by default a quarter
of the hosts at a time, rounded down, at least one, so a one-host environment restarts in
place. For each batch: switch `current` to the target release (deploy, rollback), restart the
nodes in parallel and run the health check (health.py), then wait `rollout.wait` seconds. If
any host of a batch fails, the rollout stops there: later batches are not touched, so they keep
running (and pointing `current` at) the release they had; the failed hosts are reported, and
with `rollback_on_failure` (the default) they are switched back to the release they had and
restarted. Unless the run asked for its own `--batch`, a switching rollout is all or nothing
(two-phase): the hosts of the earlier, healthy batches and of the failed batch go back too, so
the environment never ends up mixed. The last line says how many hosts served throughout.

After a first Ctrl-C (transport/interrupts.py) the batch in flight finishes, switch and
restart, and no later batch begins (Interrupted names them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from deliver.commands.report import Recovery, reporting, watch
from deliver.commands.schedule import Rollout, Schedule
from deliver.commands.targets import connected_and_locked, reachable, targets
from deliver.config import Config, Environment, NodeManager
from deliver.errors import (
    ConnectionFailed,
    DeliverError,
    HostsFailed,
    Interrupted,
    NodeError,
    RolloutStopped,
)
from deliver.hooks import StartHooks
from deliver.host.env import booted_url, booted_urls, differs, drift_warning
from deliver.host.health import HealthUrl, check_health, health_urls
from deliver.host.layout import HostState, read_host_releases, record, switch_current
from deliver.host.node import NodeStatus, start_node, stop_node
from deliver.output import Output
from deliver.shell import quote
from deliver.transport.fanout import fan_out
from deliver.transport.interrupts import active
from deliver.transport.remote import Remote

#: stop_node's detail for a node that was already down.
NOT_RUNNING = "was not running"


@dataclass(frozen=True)
class HostPlan:
    """What a rollout does on one host."""

    root: str
    tool: str
    running: str | None  # what the node runs before the restart
    target: str  # the release it runs afterwards
    switch: bool  # switch `current` to `target` first
    fallback: str | None  # where rollback_on_failure goes back to


@dataclass(frozen=True)
class _Run:
    """One rollout's fixed parts, shared by its batches."""

    config: Config
    out: Output
    plans: Mapping[str, HostPlan]
    urls: Mapping[str, HealthUrl]
    hooks: StartHooks | None
    #: hosts whose node was up when their batch began: they served until then
    up_before: set[str]
    env: Environment

    def restart(self, remote: Remote) -> NodeStatus:
        plan = self.plans[remote.name]
        url = self.urls.get(remote.name)
        return restart_checked(
            self.config,
            self.out,
            remote,
            plan,
            url,
            self.hooks,
            self.up_before,
            self.env.manager(remote.name),
        )


def roll_out(
    config: Config,
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    plans: Mapping[str, HostPlan],
    rollout: Rollout,
    urls: Mapping[str, HealthUrl],
    hooks: StartHooks | None = None,
) -> dict[str, NodeStatus]:
    """Switch (where planned), restart and health-check `remotes` batch by batch, as `env`'s
    `rollout:` settings and `rollout` say; `hooks` run around each host's restart.

    Raises HostsFailed if a switch fails, RolloutStopped when a batch fails to restart or
    is unhealthy (naming the failed hosts, those left alone and those switched back)."""
    settings = rollout.settle(env.rollout)
    schedule = Schedule.plan([r.name for r in remotes], settings, len(env.hosts))
    by_name = {r.name: r for r in remotes}
    batches = [[by_name[name] for name in batch] for batch in schedule.batches]
    run = _Run(config, out, plans, urls, hooks, set(), env)
    out.step(schedule.header(_action(config, plans)))
    # two-phase unless the run chose its batches: a failure takes back every switched host
    two_phase = rollout.batch is None
    done: list[Remote] = []
    results: dict[str, NodeStatus] = {}
    for number, batch in enumerate(batches, 1):
        several = len(batches) > 1
        if number > 1:
            _stop_if_interrupted(number, batches, done)
        if several:
            out.step(schedule.batch_line(number))
        try:
            results |= _batch(run, batch)
        except HostsFailed as failed:
            if several:
                out.step(schedule.batch_line(number, "failed"))
            later = [r.name for b in batches[number:] for r in b]
            back = settings.rollback_on_failure
            # what each host has now, and how to go on, is said by commands/report.py
            raise _stop(run, failed, batch, later, done, back, two_phase) from None
        done += batch
        if several:
            out.step(schedule.batch_line(number, "healthy"))
        if settings.wait and number < len(batches):
            out.info(f"waiting {settings.wait:g}s before batch {number + 1}/{len(batches)}")
            time.sleep(settings.wait)
    out.step(schedule.held(run.up_before))
    return results


def _stop_if_interrupted(number: int, batches: list[list[Remote]], done: list[Remote]) -> None:
    """After a first Ctrl-C, no batch begins: say which hosts are done and which untouched."""
    watch = active()
    if watch is None or not watch.stopping:
        return
    later = ", ".join(r.name for batch in batches[number - 1 :] for r in batch)
    raise Interrupted(
        f"interrupted (Ctrl-C) after batch {number - 1}/{len(batches)}: "
        f"done on {', '.join(r.name for r in done)}; not touched: {later}"
    )


def _action(config: Config, plans: Mapping[str, HostPlan]) -> str:
    versions = sorted({plan.target for plan in plans.values() if plan.switch})
    if versions:
        return f"Switching to {', '.join(versions)} and restarting {config.app}"
    return f"Restarting {config.app}"  # the release each host has current


def _batch(run: _Run, batch: list[Remote]) -> dict[str, NodeStatus]:
    """Switch the batch's hosts (where planned), then restart them in parallel."""
    switching = [r for r in batch if run.plans[r.name].switch]
    if switching:
        fan_out(
            "switch",
            switching,
            lambda r: switch_current(r, run.plans[r.name].root, run.plans[r.name].target),
        )
    # a switched host is restarted even after a Ctrl-C: the batch in flight finishes
    return fan_out("restart", batch, run.restart, interruptible=not switching)


def restart_checked(
    config: Config,
    out: Output,
    remote: Remote,
    plan: HostPlan,
    url: HealthUrl | None,
    hooks: StartHooks | None = None,
    up_before: set[str] | None = None,
    manager: NodeManager | None = None,
) -> NodeStatus:
    """Restart one node on `plan.target`; it must answer, and pass the URL check if any.
    The host is added to `up_before` when the stop found its node up (the app answered)."""
    state = HostState(remote.name, plan.root, plan.target, plan.running, plan.tool)

    def restart() -> NodeStatus:
        stopped = stop_node(remote, state, config.app, config.stop_timeout, manager)
        if up_before is not None and stopped.detail != NOT_RUNNING:
            up_before.add(remote.name)
        down = HostState(state.name, state.root, state.current, None, state.tool)
        return start_node(remote, down, config.app, config.start_timeout, manager)

    status = hooks.around(remote, plan.root, plan.target, restart) if hooks else restart()
    detail = status.detail
    if url is not None:
        try:
            code = check_health(remote, url, config.health_check)
        except NodeError:
            remote.run(record(plan.root, "failed", quote(plan.target)), check=False)
            raise
        detail += f", {url.shown} answered {code}"
    out.host_status(remote.name, True, detail, version=status.version)
    return status


def restart(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str] = (),
    rollout: Rollout | None = None,
) -> dict[str, NodeStatus]:
    """`deliver restart [env] [--batch|--all-at-once] [--[no-]rollback-on-failure]`: restart
    `current` on every host, batch by batch (rollout.py); a failed batch goes back to the
    release its node ran before, when that was another one (a deploy without --start-deploy)."""
    chosen = targets(config, environment, hosts)
    env = chosen.env
    urls = health_urls(config.health_check, env, chosen.hosts)
    again = f"deliver start {environment}" + "".join(f" --host {h}" for h in hosts)
    recovery = Recovery(environment, again)
    with (
        reporting(config, out, chosen, recovery) as watches,
        connected_and_locked(config, out, chosen, "restart") as remotes,
        watch(out, watches),
    ):
        found = fan_out(
            "reading releases", remotes, lambda r: read_host_releases(r, env.deliver_to, config.app)
        )
        recovery.before.update({name: releases.current for name, releases in found.items()})
        plans = {}
        for name, releases in found.items():
            assert releases.current is not None
            # a node that ran current already has nothing better to go back to: switching a
            # healthy environment to an older release because one restart failed would be worse
            before = releases.running if releases.running != releases.current else None
            plans[name] = HostPlan(
                releases.root,
                releases.tool,
                releases.running,
                releases.current,
                switch=False,
                fallback=before,
            )
        drifted = [r for r in remotes if differs(env, r.host, found[r.name].env_sha256)]
        if drifted:  # a restart boots what the host has: say that it is not .deliver's
            out.warning(drift_warning(environment, [r.name for r in drifted]))
            roots = {name: releases.root for name, releases in found.items()}
            urls = {**urls, **booted_urls(config.health_check, env, drifted, roots)}
        hooks = StartHooks(config, out, env)
        return roll_out(config, out, env, remotes, plans, rollout or Rollout(), urls, hooks)


def _stop(
    run: _Run,
    failed: HostsFailed,
    batch: list[Remote],
    later: list[str],
    done: list[Remote],
    rollback_on_failure: bool,
    two_phase: bool,
) -> RolloutStopped:
    """A batch failed to switch or restart: with rollback_on_failure its failed hosts go back,
    and, `two_phase`, every other host this rollout switched too."""
    notes = []
    if later:
        notes.append(f"stopped the rollout; not touched: {', '.join(later)}")
    succeeded = [r.name for r in done] + failed.succeeded
    if rollback_on_failure:
        back = [r for r in batch if r.name in failed.errors]
        if two_phase:  # all or nothing: the switched hosts that came up go back too
            up = [r for r in [*done, *batch] if r.name not in failed.errors]
            back += [r for r in up if run.plans[r.name].switch and run.plans[r.name].fallback]
        restarted = {r.name for r in done}
        if failed.phase == "restart":
            restarted |= {r.name for r in batch}
        notes += _switch_back(run, back, failed.errors, restarted)
        succeeded = [name for name in succeeded if name not in {r.name for r in back}]
    return RolloutStopped(failed.phase, failed.errors, succeeded, notes)


def _switch_back(
    run: _Run, remotes: list[Remote], errors: Mapping[str, BaseException], restarted: set[str]
) -> list[str]:
    """The hosts go back to what they had before: `current` switched back, and where the
    node was restarted on the new release (`restarted`), restarted on the old one. A host
    whose connection was lost is reached over a new one."""
    plans = run.plans
    stuck = [r.name for r in remotes if plans[r.name].fallback is None]
    notes = [f"not switched back (no other release before): {', '.join(stuck)}"] if stuck else []
    back = [r for r in remotes if r.name not in stuck]
    if not back:
        return notes
    run.out.step(f"Switching {', '.join(r.name for r in back)} back")

    def go_back(remote: Remote) -> str:
        plan = plans[remote.name]
        assert plan.fallback is not None
        previous = replace(plan, running=plan.target, target=plan.fallback, switch=False)
        switch_current(remote, plan.root, plan.fallback)
        if remote.name in restarted:
            # the switch back made the old release's env deliver.env: its URL, not .deliver's
            url = booted_url(run.config.health_check, run.env, remote, plan.root)
            manager = run.env.manager(remote.name)
            restart_checked(run.config, run.out, remote, previous, url, run.hooks, None, manager)
        return plan.fallback

    with _reconnected(run, back, errors) as (usable, unreachable):
        notes += [f"{name} could not be reached to switch it back: {e}" for name, e in unreachable]
        try:
            versions = fan_out("switch back", usable, go_back, interruptible=False)
        except HostsFailed as failed:
            versions = {name: plans[name].fallback or "?" for name in failed.succeeded}
            notes.append(str(failed).replace("\n", "\n  "))
    notes += [f"switched back to {version}: {name}" for name, version in versions.items()]
    return notes


@contextmanager
def _reconnected(
    run: _Run, remotes: list[Remote], errors: Mapping[str, BaseException]
) -> Iterator[tuple[list[Remote], list[tuple[str, DeliverError]]]]:
    """`remotes`, those whose connection was lost replaced by a new connection; and the
    ones that cannot be reached now, with why."""
    lost = [r.host for r in remotes if isinstance(errors.get(r.name), ConnectionFailed)]
    if not lost:
        yield remotes, []
        return
    with reachable(run.config, run.out, lost, interruptible=False) as (fresh, unreachable):
        again = {r.name: r for r in fresh}
        usable = [again.get(r.name, r) for r in remotes if r.name not in unreachable]
        yield usable, list(unreachable.items())
