"""`deliver upgrade <env>`: hot-upgrade whatever the nodes run to the branch head (or --to).

1. ask every node which version it runs: they must all agree (the ones that do not are named),
   but for hosts already on the target after a partial failure: a rerun leaves them alone;
2. find the upgrade from that version to the target commit in the store, or build it: with
   `--with=<running version>` when the store holds that release, else `--from=<its commit>`
   (known from a stored upgrade to it, or a tag `v<version>` / `<version>`);
3. deploy it hot on the same connections, and verify every host (hot.py). When it cannot be
   hot (hot_policy.py) nothing is touched and the reasons are given; with
   `--fallback=restart` the new release is deployed and the nodes restarted into it instead,
   batch by batch and health-checked, as `deploy release --start-deploy` does.
"""

from __future__ import annotations

from collections.abc import Sequence

from deliver.build import git
from deliver.build.git import Revision
from deliver.commands.build import build_upgrade
from deliver.commands.deploy import deploy_release
from deliver.commands.hot import Canary, install_upgrade, with_health_urls
from deliver.commands.hot_policy import FALLBACKS, NotHot
from deliver.commands.report import Recovery, hot_recovery, reporting, watch
from deliver.commands.targets import connected_and_locked, release_store, targets
from deliver.config import Config
from deliver.errors import InvalidArgument, ReleaseNotFound, UsageError
from deliver.host.node import NodeStatus
from deliver.host.release_handler import running_node
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import ReleaseStore
from deliver.transport.fanout import fan_out


def upgrade(
    config: Config,
    out: Output,
    environment: str,
    *,
    to_ref: str | None = None,
    branch: str | None = None,
    hosts: Sequence[str] = (),
    canary: Canary | None = None,
    force: bool = False,
    fallback: str | None = None,
) -> dict[str, NodeStatus]:
    """Hot-upgrade the environment to `to_ref` (default: the branch head), building the
    upgrade if the store lacks it (`force`: replacing a different stored build of a version,
    as `build upgrade --force`), the `canary` first when given. Raises UsageError when the
    hosts run different versions or already run the target, NotHot when the upgrade cannot
    be hot (unless `fallback` is "restart": then a rolling restart into the new release),
    HostsFailed for hosts whose node is down or fails to switch."""
    chosen = targets(config, environment, hosts)
    env = chosen.env
    canary = with_health_urls(config, chosen, canary)
    if fallback is not None and fallback not in FALLBACKS:
        raise InvalidArgument("fallback", f"expected one of {', '.join(FALLBACKS)}", fallback)
    build = config.require_build()
    target = git.resolve_revision(
        config.project_dir, revision=to_ref, branch=branch or build.branch
    )
    out.step(f"Asking the nodes of {environment} which version they run")
    locked = connected_and_locked(config, out, chosen, f"upgrade to {target.commit[:10]}")
    recovery = Recovery(environment, f"deliver upgrade {environment}" + _flags(hosts))
    reported = reporting(config, out, chosen, recovery)
    with release_store(config, out) as store, reported as watches, locked as remotes:
        nodes = fan_out("detect", remotes, lambda r: running_node(r, env, config.app))
        versions = {name: node.version for name, node in nodes.items()}
        upgrades = store.releases(config.app, "upgrade")
        running = _running(out, f"{environment} runs {config.app}", versions, upgrades, target)
        done = _stored(store.releases(config.app), running, target.commit)
        if done is not None:
            raise UsageError(
                f"{environment} already runs {running}, built from {target.description} "
                f"({target.commit[:10]}): nothing to upgrade"
            )
        found = _stored(upgrades, None, target.commit, running)
        if found is not None:
            out.step(f"Using the stored upgrade {running} -> {found.version}")
        else:
            found = _build(config, out, store, running, to_ref, branch, force)
        _aim(recovery, hot_recovery(environment, found.version, hosts))
        try:
            with watch(out, watches):
                return install_upgrade(config, out, env, remotes, store, found, canary, recovery)
        except NotHot as error:
            if fallback != "restart":
                raise
            not_hot = error
    # the lock is let go and taken again by the deploy: nothing was touched in between
    out.warning(f"{not_hot}: restarting into {found.version} instead (--fallback=restart)")
    deploy_release(config, out, environment, version=found.version, hosts=hosts, start=True)
    return {}


def _running(
    out: Output, runs: str, versions: dict[str, str], upgrades: list[Release], target: Revision
) -> str:
    """The version the hosts upgrade from, said; hosts already on the target (a rerun after a
    partial failure) are left alone, and said so."""
    under_way = _under_way(upgrades, versions, target.commit)
    running = _agreed(versions, under_way)
    out.step(f"{runs} {running}")
    if under_way is not None:
        on = ", ".join(host for host, version in versions.items() if version == under_way)
        out.step(f"{on} already run(s) {under_way}: a rerun upgrades the others only")
    return running


def _aim(recovery: Recovery, known: Recovery) -> None:
    """Once the upgrade is known, a failure says how to finish or undo it (before, during
    the build, nothing was changed: a Ctrl-C there just exits)."""
    recovery.finish, recovery.target, recovery.back = known.finish, known.target, known.back


def _flags(hosts: Sequence[str]) -> str:
    return "".join(f" --host {host}" for host in hosts)


def _under_way(upgrades: list[Release], versions: dict[str, str], commit: str) -> str | None:
    """The target version when the hosts are part-way through a hot upgrade to `commit` (a
    rerun after a partial failure): the stored upgrade built from it takes the version the
    others run to the one some hosts already run. Those are left alone (preflight checks
    they run its build); None when that is not the case."""
    distinct = set(versions.values())
    for upgrade in reversed(upgrades):
        if upgrade.commit == commit and upgrade.version in distinct and len(distinct) == 2:
            (rest,) = distinct - {upgrade.version}
            if rest in upgrade.from_versions:
                return upgrade.version
    return None


def _agreed(versions: dict[str, str], target: str | None = None) -> str:
    """The version the hosts run; hosts already on `target` (an upgrade under way) do not
    count. UsageError naming who runs what when they do not agree."""
    distinct = sorted(set(versions.values()) - {target})
    if len(distinct) == 1:
        return distinct[0]
    described = ", ".join(f"{host} runs {version}" for host, version in versions.items())
    raise UsageError(
        f"the hosts do not run the same version: {described}",
        hint="bring them to one version first (deploy upgrade or downgrade with --host)",
    )


def _stored(
    releases: list[Release], version: str | None, commit: str, from_version: str | None = None
) -> Release | None:
    """The newest of `releases` built from `commit` (with that version / from-version)."""
    for release in reversed(releases):
        if (
            release.commit == commit
            and version in (None, release.version)
            and (from_version is None or from_version in release.from_versions)
        ):
            return release
    return None


def _build(
    config: Config,
    out: Output,
    store: ReleaseStore,
    running: str,
    to_ref: str | None,
    branch: str | None,
    force: bool,
) -> Release:
    try:
        store.find(config.app, running)
    except ReleaseNotFound:
        pass
    else:
        out.step(f"Building the upgrade with the stored {running} (--with={running})")
        return build_upgrade(
            config,
            out,
            with_version=running,
            to_ref=to_ref,
            branch=branch,
            store=store,
            force=force,
        )
    commit = _commit_of(config, store, running)
    out.step(f"Building the upgrade from {running}'s commit {commit[:10]} (--from)")
    return build_upgrade(
        config, out, from_ref=commit, to_ref=to_ref, branch=branch, store=store, force=force
    )


def _commit_of(config: Config, store: ReleaseStore, version: str) -> str:
    """The commit `version` was built from: a stored upgrade to it knows, or a version tag."""
    for upgrade in store.releases(config.app, "upgrade"):
        if upgrade.version == version:
            return upgrade.commit
    for tag in (f"v{version}", version):
        try:
            return git.resolve_revision(config.project_dir, tag=tag).commit
        except UsageError:
            continue
    raise UsageError(
        f"the store has no release {version} and nothing says which commit it was built from",
        hint="build the upgrade yourself: deliver build upgrade --from=<its git ref>",
    )
