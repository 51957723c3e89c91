"""`deliver rollback` and `deliver show releases <env>`: the releases kept on the hosts.

Rollback is all-or-nothing up to the restart: every host is read first, and unless every
host holds the release to go back to, nothing is switched. The release is the one given with
--version, or each host's previous good release (host_releases.py), which must be the same on
every host. Then the hosts are switched and restarted batch by batch (rollout.py), each
batch passing the health check before the next.
When the current release on every host is a hot upgrade of the target's directory, the
rollback is a hot downgrade through the release handler instead (hot_upgrade.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from deliver.commands.hot import downgrade_hosts
from deliver.commands.report import Recovery, reporting, watch
from deliver.commands.rollout import HostPlan, roll_out
from deliver.commands.schedule import Rollout
from deliver.commands.targets import connected_and_locked, reachable, targets
from deliver.config import Config, Environment
from deliver.errors import DeliverError, HostsFailed, NodeError, UsageError
from deliver.hooks import StartHooks
from deliver.host.env import booted_urls, kept_env, rollback_notes
from deliver.host.health import HealthUrl, health_urls
from deliver.host.layout import HostReleases, read_host_releases, record
from deliver.output import Output
from deliver.release import check_version
from deliver.shell import quote
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote


def rollback(
    config: Config,
    out: Output,
    environment: str,
    *,
    version: str | None = None,
    hosts: Sequence[str] = (),
    rollout: Rollout | None = None,
) -> str:
    """Switch every host back to `version` (default: the previous good release) and restart,
    batch by batch as the environment's `rollout:` and `rollout` say (rollout.py).

    A default rollback marks the release it leaves as rolled back: it is not chosen again.

    Raises HostsFailed (a host lacks the release: nothing was changed), UsageError (hosts
    disagree on the previous release, or it is already current everywhere), RolloutStopped
    when a node does not come back healthy, InvalidArgument for a `version` that is not one.
    Returns the version rolled back to."""
    check_version(version)
    chosen = targets(config, environment, hosts)
    env = chosen.env
    urls = health_urls(config.health_check, env, chosen.hosts)
    recovery = Recovery(environment, "")
    with (
        reporting(config, out, chosen, recovery) as watches,
        connected_and_locked(config, out, chosen, f"rollback {version or ''}".strip()) as remotes,
        watch(out, watches),
    ):
        found = _read_all(remotes, env.deliver_to, config.app)
        target = choose_target(found, version)
        recovery.target = target
        recovery.finish = f"deliver rollback {environment} --version {target}"
        recovery.before.update({name: r.current for name, r in found.items()})
        hot = _hot_upgraded_from(found, target)
        _warn_if_failed(out, found, target)
        out.step(f"Rolling back {config.app} on {environment} to {target}")

        if hot:
            # the nodes run `target`'s directory, hot-upgraded: only the release handler can
            # take them back, without a restart
            downgrade_hosts(out, env, remotes, config.app, target)
        if version is None:
            # rolled back from: never the default target again (until deployed anew), so a
            # second rollback goes further back; --version is a plain switch and judges nothing
            fan_out("rollback", remotes, lambda r: mark_rolled_back(r, found[r.name], target))
        if hot:
            out.step(f"Rolled back {config.app} on {environment} to {target}, hot")
            return target
        urls = _env_of(config, out, env, remotes, found, target, urls)
        hooks = StartHooks(config, out, env)
        roll_out(
            config, out, env, remotes, _plans(found, target), rollout or Rollout(), urls, hooks
        )
    out.step(f"Rolled back {config.app} on {environment} to {target}")
    return target


def mark_rolled_back(remote: Remote, releases: HostReleases, target: str) -> None:
    """Record in the host's history that its current release was rolled back from (unless
    it is `target`): a default rollback never chooses it again."""
    if releases.current and releases.current != target:
        remote.run(record(releases.root, "rolled_back", quote(releases.current)))


def _read_all(remotes: Sequence[Remote], deliver_to: str, app: str) -> dict[str, HostReleases]:
    return fan_out("rollback preflight", remotes, lambda r: read_host_releases(r, deliver_to, app))


def _warn_if_failed(out: Output, found: Mapping[str, HostReleases], target: str) -> None:
    for releases in found.values():
        last = releases.last_event(target)
        if last is not None and last.kind == "failed":
            out.warning(f"{target} failed on {releases.name} at {last.time}")


def _env_of(
    config: Config,
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    found: Mapping[str, HostReleases],
    target: str,
    urls: Mapping[str, HealthUrl],
) -> dict[str, HealthUrl]:
    """Which env the rollback boots `target` with (the switch restores the release's own),
    said; returns the health URLs, filled from that env where it is another one."""
    kept = fan_out("rollback", remotes, lambda r: kept_env(r, found[r.name].root, target))
    for note in rollback_notes(target, kept):
        out.info(note)
    restored = [r for r in remotes if kept[r.name] == "differs"]
    roots = {name: releases.root for name, releases in found.items()}
    return {**urls, **booted_urls(config.health_check, env, restored, roots, target)}


def _plans(found: Mapping[str, HostReleases], target: str) -> dict[str, HostPlan]:
    """Switch every host to `target` and restart it; a batch that fails to come back on it
    returns to the release it left."""
    return {
        name: HostPlan(
            r.root,
            r.tool,
            r.running,
            target,
            switch=True,
            fallback=r.current if r.current != target else None,
        )
        for name, r in found.items()
    }


def _hot_upgraded_from(found: Mapping[str, HostReleases], target: str) -> bool:
    """Whether every host's current release is a hot upgrade installed in the directory that
    holds `target` (that directory itself, or an earlier hot step in it): then rollback is a
    hot downgrade, one step at a time. Refuses hosts that differ in this."""

    def hot_step_back(r: HostReleases) -> bool:
        directory = r.aliases.get(r.current or "")
        return directory is not None and directory in (target, r.aliases.get(target))

    hot = sorted(name for name, r in found.items() if hot_step_back(r))
    if hot and len(hot) < len(found):
        cold = ", ".join(name for name in found if name not in hot)
        raise UsageError(
            f"{', '.join(hot)} run a hot upgrade of {target}, {cold} do not: roll back "
            "each group on its own (--host)",
            hint=f"deliver downgrade ENV --version={target} --host ... for the hot ones",
        )
    return bool(hot)


def choose_target(found: Mapping[str, HostReleases], version: str | None) -> str:
    """The release every host goes back to; raises unless all of them can."""
    if version is not None:
        missing = {
            name: DeliverError(
                f"{version} is not on this host (it has {', '.join(r.present) or 'none'})"
            )
            for name, r in found.items()
            if version not in r.present
        }
        if missing:
            _refuse(missing, found)
        if all(r.current == version for r in found.values()):
            raise UsageError(f"{version} is already the current release on every host")
        return version
    previous = {name: r.previous() for name, r in found.items()}
    lacking = {
        name: DeliverError(_no_previous(found[name]))
        for name, found_version in previous.items()
        if found_version is None
    }
    if lacking:
        _refuse(lacking, found)
    if len(set(previous.values())) > 1:
        each = ", ".join(f"{v} on {name}" for name, v in previous.items())
        raise UsageError(
            f"the hosts disagree on the previous release ({each})",
            hint="choose one with --version (see deliver show releases)",
        )
    return next(v for v in previous.values() if v is not None)


def _no_previous(releases: HostReleases) -> str:
    others = []
    for version in releases.present:
        last = releases.last_event(version)
        if version != releases.current:
            others.append(f"{version} {last.kind if last else 'never deployed'}")
    known = f" (besides {releases.current}: {', '.join(others)})" if others else ""
    return f"no earlier release that ran well is on this host{known}"


def _refuse(errors: Mapping[str, DeliverError], found: Mapping[str, HostReleases]) -> NoReturn:
    failed = HostsFailed(
        "rollback preflight", errors, [name for name in found if name not in errors]
    )
    failed.hint = "nothing was changed on any host"
    raise failed


HOST_RELEASE_HEADERS = ("HOST", "RELEASE", "STATE", "LAST EVENT")


@dataclass(frozen=True)
class HostReleasesReport:
    """`deliver show releases <env>`: one row per release kept on each host (a host with
    nothing deployed has one row saying so), and what the hosts disagree on."""

    releases: dict[str, HostReleases | None]
    rows: list[tuple[str, str, str, str]]
    disagreements: list[str]
    #: the hosts that could not be asked, and why
    unreachable: dict[str, DeliverError]


def show_host_releases(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> HostReleasesReport:
    """Per host, the releases kept there, which one is current, running and previous, and
    each one's last event; read-only, one round trip per host."""
    chosen = targets(config, environment, hosts)

    def read(remote: Remote) -> HostReleases | None:
        try:
            return read_host_releases(remote, chosen.env.deliver_to, config.app)
        except NodeError:  # nothing deployed there: a row saying so, not a failure
            return None

    with reachable(config, out, chosen.hosts) as (remotes, unreachable):
        found = fan_out("reading releases", remotes, read)
    rows = [row for name, releases in found.items() for row in _rows(name, releases)]
    return HostReleasesReport(found, rows, _disagreements(found), unreachable)


def _rows(name: str, releases: HostReleases | None) -> list[tuple[str, str, str, str]]:
    if releases is None:
        return [(name, "-", "nothing deployed", "-")]
    rows = []
    for version in reversed(releases.present):
        marks = [
            mark
            for mark, value in (
                ("current", releases.current),
                ("running", releases.running),
                ("previous", releases.previous()),
            )
            if value == version
        ]
        if version in releases.aliases:  # a hot upgrade, installed in that directory
            marks.append(f"hot-upgraded in {releases.aliases[version]}")
        last = releases.last_event(version)
        event = f"{last.kind} {last.time}" if last else "never deployed"
        rows.append((name, version, ",".join(marks) or "-", event))
    return rows


def _disagreements(found: Mapping[str, HostReleases | None]) -> list[str]:
    lines = []
    for what in ("current", "running"):
        versions = {
            name: (getattr(releases, what) if releases else None) or "none"
            for name, releases in found.items()
        }
        if len(set(versions.values())) > 1:
            each = "; ".join(f"{name} {v}" for name, v in versions.items())
            lines.append(f"the hosts disagree on the {what} release: {each}")
    return lines
