"""Restarting an environment batch by batch, each batch healthy before the next begins.

Used by `restart`, by `deploy release --start-deploy` and by `rollback`. For each batch: switch
`current` to the target release (deploy, rollback), restart the nodes in parallel and run the
health check (health.py). If any host of a batch fails, the rollout stops there: later batches
are not touched, so they keep running (and pointing `current` at) the release they had; the
failed hosts are reported, and with `rollback_on_failure` they are switched back to the release
they ran before and restarted. Without `--batch` the whole environment is one batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

from deliver.commands.targets import connected, targets
from deliver.config import Config
from deliver.errors import HostsFailed, NodeError, RolloutStopped
from deliver.hooks import StartHooks
from deliver.host.health import HealthUrl, check_health, health_urls
from deliver.host.layout import HostState, read_host_releases, record, switch_current
from deliver.host.node import NodeStatus, restart_node
from deliver.output import Output
from deliver.shell import quote
from deliver.transport.fanout import fan_out, interrupts_deferred
from deliver.transport.remote import Remote

T = TypeVar("T")


@dataclass(frozen=True)
class BatchSize:
    """`--batch=N` hosts at a time, or `--batch=N%` of the hosts (at least one)."""

    size: int
    percent: bool = False

    def split(self, items: Sequence[T]) -> list[list[T]]:
        size = math.ceil(len(items) * self.size / 100) if self.percent else self.size
        return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


@dataclass(frozen=True)
class Rollout:
    batch: BatchSize | None = None
    rollback_on_failure: bool = False

    def batches(self, items: Sequence[T]) -> list[list[T]]:
        if self.batch is None:
            return [list(items)] if items else []
        return self.batch.split(items)


@dataclass(frozen=True)
class HostPlan:
    """What a rollout does on one host."""

    root: str
    tool: str
    running: str | None  # what the node runs before the restart
    target: str  # the release it runs afterwards
    switch: bool  # switch `current` to `target` first
    fallback: str | None  # where rollback_on_failure goes back to


def roll_out(
    config: Config,
    out: Output,
    remotes: Sequence[Remote],
    plans: Mapping[str, HostPlan],
    rollout: Rollout,
    urls: Mapping[str, HealthUrl],
    hooks: StartHooks | None = None,
) -> dict[str, NodeStatus]:
    """Switch (where planned), restart and health-check `remotes` batch by batch; `hooks`
    run around each host's restart.

    Raises HostsFailed if a switch fails, RolloutStopped when a batch fails to restart or
    is unhealthy (naming the failed hosts, those left alone and those switched back)."""
    batches = rollout.batches(remotes)
    done: list[str] = []
    results: dict[str, NodeStatus] = {}
    for number, batch in enumerate(batches, 1):
        names = ", ".join(r.name for r in batch)
        label = f" (batch {number}/{len(batches)}: {names})" if len(batches) > 1 else ""
        switching = [r for r in batch if plans[r.name].switch]
        if switching:
            versions = sorted({plans[r.name].target for r in switching})
            out.step(f"Switching to {', '.join(versions)}{label}")
            with interrupts_deferred(), partial_switch_explained():
                fan_out(
                    "switch",
                    switching,
                    lambda r: switch_current(r, plans[r.name].root, plans[r.name].target),
                )
        out.step(f"Restarting {config.app}{label}")
        try:
            results |= fan_out(
                "restart",
                batch,
                lambda r: restart_checked(config, out, r, plans[r.name], urls.get(r.name), hooks),
            )
        except HostsFailed as failed:
            later = [r.name for b in batches[number:] for r in b]
            raise _stop(
                config, out, failed, batch, later, done, plans, rollout, urls, hooks
            ) from None
        done += [r.name for r in batch]
    return results


def restart_checked(
    config: Config,
    out: Output,
    remote: Remote,
    plan: HostPlan,
    url: HealthUrl | None,
    hooks: StartHooks | None = None,
) -> NodeStatus:
    """Restart one node on `plan.target`; it must answer, and pass the URL check if any."""
    state = HostState(remote.name, plan.root, plan.target, plan.running, plan.tool)

    def restart() -> NodeStatus:
        return restart_node(remote, state, config.app, config)

    status = hooks.around(remote, plan.root, plan.target, restart) if hooks else restart()
    detail = status.detail
    if url is not None:
        try:
            code = check_health(remote, url, config.health_check)
        except NodeError:
            remote.run(record(plan.root, "failed", quote(plan.target)), check=False)
            raise
        detail += f", {url.shown} answered {code}"
    out.host_status(remote.name, True, detail)
    return status


def restart(
    config: Config,
    out: Output,
    environment: str,
    hosts: Sequence[str] = (),
    rollout: Rollout | None = None,
) -> dict[str, NodeStatus]:
    """`deliver restart [env] [--batch] [--rollback-on-failure]`: restart `current` on every
    host, batch by batch; a failed batch can go back to what the host ran before."""
    chosen = targets(config, environment, hosts)
    env = chosen.env
    urls = health_urls(config.health_check, env, chosen.hosts)
    out.step(f"Restarting {config.app} on {environment}: {chosen.names}")
    with connected(config, out, chosen.hosts) as remotes:
        found = fan_out(
            "reading releases", remotes, lambda r: read_host_releases(r, env.deliver_to, config.app)
        )
        plans = {}
        for name, releases in found.items():
            assert releases.current is not None
            before = releases.running if releases.running != releases.current else None
            plans[name] = HostPlan(
                releases.root,
                releases.tool,
                releases.running,
                releases.current,
                switch=False,
                fallback=before or releases.previous(),
            )
        hooks = StartHooks(config, out, env)
        return roll_out(config, out, remotes, plans, rollout or Rollout(), urls, hooks)


def _stop(
    config: Config,
    out: Output,
    failed: HostsFailed,
    batch: list[Remote],
    later: list[str],
    done: list[str],
    plans: Mapping[str, HostPlan],
    rollout: Rollout,
    urls: Mapping[str, HealthUrl],
    hooks: StartHooks | None,
) -> RolloutStopped:
    notes = []
    if later:
        notes.append(f"stopped the rollout; not touched: {', '.join(later)}")
    if rollout.rollback_on_failure:
        notes += _switch_back(
            config, out, [r for r in batch if r.name in failed.errors], plans, urls, hooks
        )
    return RolloutStopped("restart", failed.errors, done + failed.succeeded, notes)


def _switch_back(
    config: Config,
    out: Output,
    remotes: list[Remote],
    plans: Mapping[str, HostPlan],
    urls: Mapping[str, HealthUrl],
    hooks: StartHooks | None,
) -> list[str]:
    """--rollback-on-failure: the failed hosts go back to what they ran before."""
    stuck = [r.name for r in remotes if plans[r.name].fallback is None]
    notes = [f"no earlier release to switch back to on: {', '.join(stuck)}"] if stuck else []
    back = [r for r in remotes if r.name not in stuck]
    if not back:
        return notes
    out.step(f"Switching {', '.join(r.name for r in back)} back")

    def go_back(remote: Remote) -> str:
        plan = plans[remote.name]
        assert plan.fallback is not None
        previous = replace(plan, running=plan.target, target=plan.fallback, switch=False)
        switch_current(remote, plan.root, plan.fallback)
        restart_checked(config, out, remote, previous, urls.get(remote.name), hooks)
        return plan.fallback

    try:
        versions = fan_out("switch back", back, go_back)
    except HostsFailed as failed:
        versions = {name: plans[name].fallback or "?" for name in failed.succeeded}
        notes.append(str(failed).replace("\n", "\n  "))
    notes += [f"switched back to {version}: {name}" for name, version in versions.items()]
    return notes


@contextmanager
def partial_switch_explained() -> Iterator[None]:
    """A switch that failed on some hosts after others switched leaves them disagreeing:
    the error's hint says which hosts switched and what to do."""
    try:
        yield
    except HostsFailed as failed:
        if failed.succeeded and failed.hint is None:
            failed.hint = (
                f"{', '.join(failed.succeeded)} switched (current points at the new release; "
                f"a running node keeps running the old one until restarted), "
                f"{', '.join(failed.errors)} did not: fix that and run the same command again "
                "(deliver show releases <env> shows each host)"
            )
        raise
