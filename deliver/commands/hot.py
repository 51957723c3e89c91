"""`deliver deploy upgrade` and `deliver downgrade`: switch running nodes to another version
through the release handler, without restarting them.

Phases, each on all hosts in parallel over the command's one connection per host; a phase
starts only when every host passed the one before, so nothing is installed anywhere unless
every host can take the upgrade:

1. preflight (changes nothing): the node is running, runs the upgrade's from-version (a host
   already on the target version is reported and left alone) from the very build the upgrade
   was made from (commit and archive sha256, as recorded at deploy), on the ERTS the upgrade
   was built with, was built with the same tool, has a RELEASES file, and has room;
2. upload of the upgrade archive where the host lacks it, verified by sha256;
3. staging and check: the new files go into the root the node runs from, the release handler
   learns the release, its relup must have an entry for the running version and
   `check_install_release/1` must pass. The nodes run on untouched;
4. install, per host, between the pre/post_upgrade_release hooks: install and make permanent
   through the release handler (the point of no return), then ask the node its version until
   it answers (an upgrade that restarts the emulator answers, then reboots), check that the
   same OS process runs the new version, and record it in the layout (below). With a canary,
   one host goes first and must answer the new version and pass the health check; if it does
   not it is downgraded again and no other node switches.

Layout after a hot upgrade (see control.py for the rest). The release handler installs into the
root the node was started from, say `releases/0.1.0/`, whose `releases/start_erl.data` now names
0.2.0, so a restart boots 0.2.0. Then:

    releases/0.2.0 -> 0.1.0      an alias: the version that root boots now
    current -> releases/0.2.0    so `current` names what the next start boots
    running -> releases/0.1.0    unchanged: the real directory the node runs from

`releases/0.1.0` itself boots 0.2.0 now: while it is in use, a cold deploy of 0.1.0 is refused
(go back with `deliver downgrade`, which removes the alias and points `current` at
`releases/0.1.0` again); once unused, a cold deploy extracts it afresh. A later cold deploy of
0.2.0 replaces the alias with a fresh directory. The per-host work is in release_handler.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from deliver.commands.hot_policy import NotHot, reasons_not_hot
from deliver.commands.report import (
    Recovery,
    hot_recovery,
    in_flight,
    reporting,
    stop_before,
    watch,
)
from deliver.commands.targets import Targets, connected_and_locked, release_store, targets
from deliver.config import Config, Environment
from deliver.errors import DeliverError, HostsFailed, Interrupted, UsageError
from deliver.hooks import Hooks, deploy_env
from deliver.host.emulator_restart import NoHeart, check_heart, install_switch
from deliver.host.health import HealthUrl, check_health, health_urls
from deliver.host.node import NodeStatus
from deliver.host.release_handler import (
    ErtsDiffers,
    NodeCheck,
    Switch,
    check_downgrade,
    check_upgrade,
    record_switched,
    stage,
)
from deliver.host.unpack import upload
from deliver.output import Output
from deliver.release import Release, check_version
from deliver.release_store import ReleaseStore
from deliver.tools import hot_upgrades
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote


def deploy_upgrade(
    config: Config,
    out: Output,
    environment: str,
    *,
    version: str | None = None,
    hosts: Sequence[str] = (),
    canary: Canary | None = None,
) -> dict[str, NodeStatus]:
    """Hot-upgrade the environment's nodes with the stored upgrade to `version` (default: the
    newest), the `canary` first when given. Raises ReleaseNotFound, HostsFailed naming every
    host that failed a phase (no host is touched unless all passed preflight and the check),
    InvalidArgument for a bad `version`."""
    check_version(version)
    chosen = targets(config, environment, hosts)
    canary = with_health_urls(config, chosen, canary)
    with release_store(config, out) as store:
        upgrade = store.find(config.app, version, kind="upgrade")
        out.step(
            f"Hot-upgrading {config.app} {', '.join(upgrade.from_versions)} -> "
            f"{upgrade.version} on {environment}: {chosen.names}"
        )
        command = f"deploy upgrade {upgrade.version}"
        recovery = hot_recovery(environment, upgrade.version, hosts)
        with (
            reporting(config, out, chosen, recovery) as watches,
            connected_and_locked(config, out, chosen, command) as remotes,
            watch(out, watches),
        ):
            return install_upgrade(
                config, out, chosen.env, remotes, store, upgrade, canary, recovery
            )


def install_upgrade(
    config: Config,
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    store: ReleaseStore,
    upgrade: Release,
    canary: Canary | None = None,
    recovery: Recovery | None = None,
) -> dict[str, NodeStatus]:
    """Preflight, upload, stage and check, then install `upgrade` on hosts already connected
    (the `canary` first, when given). The host's links are made in the new version's files
    before it is checked (as a deploy makes them), and the pre/post_upgrade_release hooks run
    around each host's install. `recovery` learns what each node ran (report.py); after a
    first Ctrl-C no phase begins, and no host is installed after the canary."""
    if upgrade.kind != "upgrade" or upgrade.from_version is None:
        raise UsageError(f"{upgrade.archive_name} is not an upgrade")
    hot_upgrades(upgrade.tool)  # a tool without hot upgrades is refused before any host
    checks = _preflight(config, out, remotes, env, store, upgrade)
    if recovery is not None:
        recovery.learn({name: check.version for name, check in checks.items()})
    pending = _skip_done(out, remotes, checks, upgrade.version, upgrade.app)
    stop_before("the upgrade was checked on any host")
    switches = {
        r.name: Switch(upgrade.app, checks[r.name].version, upgrade.version, upgrade)
        for r in pending
    }
    if pending:
        out.step(f"Checking the upgrade with the release handler on {len(pending)} host(s)")
    fan_out(
        "upgrade check",
        pending,
        lambda r: stage(r, checks[r.name], switches[r.name], config.links),
    )
    if upgrade.changed_protocols and pending:
        out.warning(
            f"consolidated protocols changed; the nodes keep those of {upgrade.from_version} "
            f"until they restart: {', '.join(upgrade.changed_protocols)}"
        )
    hooks = Hooks.load(config, out)

    def on_host(remote: Remote) -> NodeStatus:
        check = checks[remote.name]
        hook_env = deploy_env(
            config, env, remote, check.root, upgrade.version, upgrade.commit, upgrade.branch
        )
        return hooks.around(
            "upgrade_release",
            remote,
            hook_env,
            lambda: _install_and_report(remote, out, check, switches[remote.name]),
        )

    return _install_all(config, out, env, pending, checks, on_host, canary)


def _install_all(
    config: Config,
    out: Output,
    env: Environment,
    pending: list[Remote],
    checks: dict[str, NodeCheck],
    on_host: Callable[[Remote], NodeStatus],
    canary: Canary | None,
) -> dict[str, NodeStatus]:
    """The install on every pending host, the canary first; after a first Ctrl-C, none
    begins (nor any after the canary: _canary)."""
    done: dict[str, NodeStatus] = {}
    stop_before("any node was upgraded")
    if canary is not None and pending:
        first = canary.pick(pending)
        done = _canary(config, out, env, first, checks[first.name], on_host, canary)
        pending = [r for r in pending if r is not first]
    ran = {checks[r.name].version for r in pending}
    back_to = ran.pop() if len(ran) == 1 else None
    return done | _run_install(out, env.name, pending, on_host, back_to)


def _preflight(
    config: Config,
    out: Output,
    remotes: Sequence[Remote],
    env: Environment,
    store: ReleaseStore,
    upgrade: Release,
) -> dict[str, NodeCheck]:
    """The policy, read-only checks on every host, then the archive uploaded where it is
    missing. NotHot when the upgrade must not be hot (policy, changes, another ERTS)."""
    reasons = reasons_not_hot(upgrade, config.hot_upgrade)
    if reasons:
        raise NotHot(upgrade, reasons, env.name)

    def preflight(remote: Remote) -> NodeCheck:
        check = check_upgrade(remote, env, upgrade)
        if upgrade.restarts_emulator and check.version != upgrade.version:
            manager = env.manager(remote.name).manager
            check_heart(remote, check.root, upgrade.tool, upgrade.app, manager)
        if not check.has_archive and check.version != upgrade.version:
            store.check_host(remote)
        return check

    try:
        checks = fan_out("preflight", remotes, preflight)
    except HostsFailed as error:
        never = (ErtsDiffers, NoHeart)  # not a host's fault: the upgrade cannot be hot there
        if error.errors and all(isinstance(e, never) for e in error.errors.values()):
            raise NotHot(upgrade, [str(e) for e in error.errors.values()], env.name) from None
        raise
    stop_before("uploading")
    uploads = [
        r
        for r in remotes
        if not checks[r.name].has_archive and checks[r.name].version != upgrade.version
    ]
    if uploads:
        transfer = "Uploading" if store.is_local else f"Fetching from {store.location}"
        out.step(f"{transfer} {upgrade.archive_name} to {len(uploads)} host(s)")
    totals = {r.name: upgrade.size for r in uploads} if store.is_local else {}
    with out.progress("uploading to", totals) as advance:
        fan_out(
            "upload",
            uploads,
            lambda r: upload(r, checks[r.name].root, upgrade, store, advance(r.name)),
        )
    return checks


@dataclass(frozen=True)
class Canary:
    """`--canary[=HOST]`: the host upgraded (and verified) before the others; None: the first."""

    host: str | None = None
    urls: Mapping[str, HealthUrl] = field(default_factory=dict)

    def pick(self, remotes: Sequence[Remote]) -> Remote:
        if self.host is None:
            return remotes[0]
        for remote in remotes:
            if remote.name == self.host:
                return remote
        names = ", ".join(r.name for r in remotes)
        raise UsageError(f"--canary={self.host}: not one of the hosts to upgrade ({names})")


def with_health_urls(config: Config, chosen: Targets, canary: Canary | None) -> Canary | None:
    """The canary with the health-check URLs of the hosts (worked out before any host is
    touched: a URL naming a missing env value is a mistake found now)."""
    if canary is None:
        return None
    if canary.host is not None and canary.host not in [h.name for h in chosen.hosts]:
        names = ", ".join(h.name for h in chosen.hosts)
        raise UsageError(f"--canary={canary.host}: not a host of {chosen.env.name} ({names})")
    return replace(canary, urls=health_urls(config.health_check, chosen.env, chosen.hosts))


def _canary(
    config: Config,
    out: Output,
    env: Environment,
    remote: Remote,
    check: NodeCheck,
    on_host: Callable[[Remote], NodeStatus],
    canary: Canary,
) -> dict[str, NodeStatus]:
    """Upgrade the canary and verify it (its node's version, the health check); on failure
    take it back to the version it ran and raise, the other hosts untouched."""
    out.step(f"Upgrading the canary {remote.name} first")
    try:
        status = in_flight("install", remote, on_host)
        url = canary.urls.get(remote.name)
        if url is not None:
            check_health(remote, url, config.health_check)
            out.detail(f"{remote.name}: healthy at {url.shown}")
    except Interrupted:  # Ctrl-C before the canary began: nothing to take back
        raise
    except DeliverError as error:
        back = _back_from_canary(out, env, remote, config.app, check.version)
        failed = HostsFailed("canary", {remote.name: error}, [])
        failed.hint = f"{back}; no other node was switched"
        raise failed from None
    stop_before(f"upgrading the nodes after the canary {remote.name}")
    out.step(f"The canary {remote.name} runs {status.version}: upgrading the others")
    return {remote.name: status}


def _back_from_canary(out: Output, env: Environment, remote: Remote, app: str, version: str) -> str:
    """Downgrade the canary to `version` if it switched; says what it runs now."""
    try:
        check = check_downgrade(remote, env, app, version)
        if check.version == version:
            return f"{remote.name} still runs {version}"
        _install_and_report(remote, out, check, Switch(app, check.version, version, None))
        return f"{remote.name} was downgraded to {version}"
    except DeliverError as error:
        return (
            f"{remote.name} could not be downgraded ({error}): deliver downgrade {env.name} "
            f"--version={version} --host {remote.name}"
        )


def downgrade(
    config: Config, out: Output, environment: str, *, version: str, hosts: Sequence[str] = ()
) -> dict[str, NodeStatus]:
    """Hot-downgrade the environment's nodes to `version`, a release installed in them before
    a hot upgrade. Raises HostsFailed as deploy_upgrade does, InvalidArgument for a bad
    `version`."""
    check_version(version)
    chosen = targets(config, environment, hosts)
    out.step(f"Hot-downgrading {config.app} to {version} on {environment}: {chosen.names}")
    recovery = hot_recovery(environment, version, hosts, downgrade=True)
    with (
        reporting(config, out, chosen, recovery) as watches,
        connected_and_locked(config, out, chosen, f"downgrade {version}") as remotes,
        watch(out, watches),
    ):
        return downgrade_hosts(out, chosen.env, remotes, config.app, version, recovery)


def downgrade_hosts(
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    app: str,
    version: str,
    recovery: Recovery | None = None,
) -> dict[str, NodeStatus]:
    """Preflight and hot-downgrade hosts already connected (also `deliver rollback`'s way back
    from a hot upgrade); `recovery` learns what each node ran."""
    checks = fan_out("preflight", remotes, lambda r: check_downgrade(r, env, app, version))
    if recovery is not None:
        recovery.learn({name: check.version for name, check in checks.items()})
    pending = _skip_done(out, remotes, checks, version, app, downgrade=True)
    stop_before("any node was downgraded")

    def on_host(remote: Remote) -> NodeStatus:
        check = checks[remote.name]
        return _install_and_report(remote, out, check, Switch(app, check.version, version, None))

    return _run_install(out, env.name, pending, on_host, None)


def _skip_done(
    out: Output,
    remotes: Sequence[Remote],
    checks: dict[str, NodeCheck],
    version: str,
    app: str,
    downgrade: bool = False,
) -> list[Remote]:
    """The hosts still to do; those running `version` are left alone (once recorded)."""
    done = [r for r in remotes if checks[r.name].version == version]

    def record(remote: Remote) -> None:
        record_switched(remote, checks[remote.name], app, version, downgrade)

    fan_out("recording", done, record)
    for remote in done:
        out.host_status(remote.name, True, f"already running {version}", version=version)
    return [r for r in remotes if r not in done]


def _run_install(
    out: Output,
    environment: str,
    remotes: Sequence[Remote],
    on_host: Callable[[Remote], NodeStatus],
    back_to: str | None,
) -> dict[str, NodeStatus]:
    """Install on every host; a failure names the hosts that did switch and how to go back."""
    if not remotes:
        return {}
    out.step(f"Installing through the release handler on {len(remotes)} host(s)")
    try:
        return fan_out("install", remotes, on_host)
    except HostsFailed as error:
        if error.succeeded and back_to is not None:
            hosts = " ".join(f"--host {name}" for name in error.succeeded)
            error.hint = (
                f"the other hosts switched; to bring them back: "
                f"deliver downgrade {environment} --version={back_to} {hosts}"
            )
        raise


def _install_and_report(
    remote: Remote, out: Output, check: NodeCheck, switch: Switch
) -> NodeStatus:
    status = install_switch(remote, check, switch)
    out.host_status(remote.name, True, status.detail, version=status.version)
    return status
