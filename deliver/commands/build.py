"""`deliver build release` and `deliver build upgrade`: build on the build host (build/), then
store the archive (a remote or S3 store receives it from the build host directly).

Hook points, in order: init_app_remotely, git_push, then the tool's steps (deps, compile,
generate release), each wrapped in its pre_/post_ hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from deliver.build import git
from deliver.build.appup import AppupEditor, relup_text
from deliver.build.identity import (
    Build,
    identified,
    keep_stored,
    stored_version,
    tree_changes,
)
from deliver.build.tree import (
    BuildOptions,
    BuildTree,
    pack_release,
    run_steps,
    send_commit,
    set_version,
)
from deliver.build.upgrade import UpgradeBuild, check_old_release, stored_build
from deliver.build.versions import VersionOptions, VersionPlan, plan_version
from deliver.commands.build_lock import build_locked
from deliver.commands.deployed import deployed_releases
from deliver.commands.targets import connected, release_store
from deliver.config import BuildConfig, Config
from deliver.config.grammar import parse_auto_version
from deliver.errors import ReleaseNotFound, UsageError
from deliver.hooks import HookEnv, Hooks
from deliver.output import Output
from deliver.release import Release, check_version
from deliver.release_store import ReleaseStore, StoredAppup
from deliver.tools import BuildTool, build_tool, detect_tool, upgrade_builder
from deliver.transport.remote import Remote


def build_release(
    config: Config,
    out: Output,
    *,
    revision: str | None = None,
    tag: str | None = None,
    branch: str | None = None,
    options: BuildOptions | None = None,
) -> Release:
    """Build the release of `revision`/`tag`/`branch` (default: current branch) into the store.

    Raises UsageError for unknown refs or a version the store holds from another commit,
    ConnectionFailed for the build host, CommandFailed with the failing step (or hook) and its
    output tail, DeliverError when the archive arrives corrupted.
    """
    options = options or BuildOptions()
    build = config.require_build()
    tool = build_tool(detect_tool(config.project_dir, build, config.source))
    target = _revision(config, out, revision=revision, tag=tag, branch=branch or build.branch)
    plan = plan_version(
        config.project_dir,
        target.commit,
        target.branch,
        tool.version_sources(build),
        with_default_auto_version(options.versions, build),
    )
    hooks = Hooks.load(config, out)
    wanted = planned_build(build, tool, target, plan)
    with release_store(config, out) as store:
        store.check()  # a store that cannot take the release fails now, not after the build
        stored = _reusable(out, store, config.app, wanted, options)
        if stored is not None:
            return stored
        with connected(config, out, [build.host], private=False) as (remote,):
            store.check_host(remote)
            command = f"build release {plan.version or target.description}"
            with build_locked(out, remote, build.at, command, config.lock_wait):
                # the build this one waited for may have stored this very build
                if (stored := _reusable(out, store, config.app, wanted, options)) is not None:
                    return stored
                release, tree = _build(config, out, remote, hooks, tool, target, plan, options)
                stored = stored_version(store.releases(config.app), release.version)
                if keep_stored(stored, Build.of(release), options.force, store.location):
                    assert stored is not None
                    out.step(_kept(stored, store.location))
                    return stored
                _store_release(out, store, tree, release)
        out.step(f"Built {config.app} {release.version} -> {store.where(release)}")
    return release


def planned_build(
    build: BuildConfig, tool: BuildTool, target: git.Revision, plan: VersionPlan
) -> Build | None:
    """The build about to be made, when its version is known before building."""
    if plan.version is None:
        return None
    return Build(plan.version, target.commit, tool.node_tool(build), build.mix_env)


def _reusable(
    out: Output, store: ReleaseStore, app: str, wanted: Build | None, options: BuildOptions
) -> Release | None:
    """The stored release that is this very build (None: build it); DifferentBuild for
    another build of its version, unless --force. --skip-git-clean builds what the tree
    holds besides the commit: never a reuse."""
    if wanted is None:
        return None
    stored = stored_version(store.releases(app), wanted.version)
    if not keep_stored(stored, wanted, options.force, store.location) or not options.git_clean:
        return None
    assert stored is not None
    out.step(
        f"Reusing {app} {stored.version}: {store.location} holds the build of this commit, "
        f"{Build.of(stored).describe()} (--force rebuilds it)"
    )
    return stored


def _kept(stored: Release, location: str) -> str:
    return (
        f"Kept the stored {stored.app} {stored.version}: {location} holds this commit's "
        f"build already, {Build.of(stored).describe()} (--force replaces it)"
    )


def _build(
    config: Config,
    out: Output,
    remote: Remote,
    hooks: Hooks,
    tool: BuildTool,
    target: git.Revision,
    plan: VersionPlan,
    options: BuildOptions,
) -> tuple[Release, BuildTree]:
    """Push, reset, build and pack on the build host (holding its build lock)."""
    build = config.require_build()
    env = _hook_env(config, build, target, plan)
    tree = send_commit(config, remote, out, hooks, env, target, options)
    set_version(tree, plan)
    run_steps(tree, hooks, tool, config.app, plan)
    changes = tree_changes(out, tree, target.commit, list(plan.patches))
    release = pack_release(tree, tool, config.app, target, plan)
    return identified(release, build, changes), tree


def _revision(
    config: Config,
    out: Output,
    *,
    revision: str | None = None,
    tag: str | None = None,
    branch: str | None = None,
) -> git.Revision:
    """The commit to build; a warning when the working tree has changes it will not contain."""
    target = git.resolve_revision(config.project_dir, revision=revision, tag=tag, branch=branch)
    if git.working_tree_dirty(config.project_dir):
        out.warning(f"uncommitted changes are not built: building commit {target.commit[:10]}")
    untracked = git.untracked_sources(config.project_dir)
    if untracked:
        shown = ", ".join(untracked[:5]) + (
            f" and {len(untracked) - 5} more" if len(untracked) > 5 else ""
        )
        out.warning(f"untracked files are not built (git add and commit them): {shown}")
    return target


def _hook_env(
    config: Config, build: BuildConfig, target: git.Revision, plan: VersionPlan
) -> HookEnv:
    return HookEnv(
        app=config.app,
        host=build.host.name,
        cwd="~",
        revision=target.commit,
        branch=target.branch or "",
        version=plan.version or "",
        mix_env=build.mix_env,
        build_at=build.at,
        extra=build.env,
    )


def _store_release(out: Output, store: ReleaseStore, tree: BuildTree, release: Release) -> None:
    """The build host sends the archive to the store (through this machine for a local one)."""
    out.step(f"Storing {release.archive_name} ({_megabytes(release.size)}) in {store.location}")
    archive = f"{tree.path}/_build/deliver/{release.archive_name}"
    host = tree.remote.name
    totals = {host: release.size} if store.is_local else {}
    with out.progress("fetching from", totals) as advance_for:
        store.receive_from_host(release, tree.remote, archive, advance_for(host))


def with_default_auto_version(options: VersionOptions, build: BuildConfig) -> VersionOptions:
    """build.auto_version (or $AUTO_VERSION) applies unless --auto-version was given."""
    if options.auto or not build.auto_version:
        return options
    return replace(options, auto=parse_auto_version(build.auto_version))


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def build_upgrade(
    config: Config,
    out: Output,
    *,
    from_ref: str | None = None,
    with_version: str | None = None,
    to_ref: str | None = None,
    branch: str | None = None,
    store: ReleaseStore | None = None,
    force: bool = False,
    also_from: Sequence[str] = (),
    edit: AppupEditor | None = None,
    from_env: str | None = None,
) -> Release:
    """Build the upgrade from `from_ref`'s (or the stored `with_version`'s) release to the
    release of `to_ref` (default: the branch head) into the store (`store` when the caller has
    it open already). With `also_from` (more git refs), the upgrade is from each of
    those releases too: its relup has an entry for every one, as for `from_env` (an
    environment: the stored release of every version its hosts run). `edit` is shown each appup
    before the relup is made (`--edit`), and may change it. The releases it builds are stored
    by the rule of `build release`: a different build of a stored version is refused
    (DifferentBuild) unless `force`. It holds the build directory's lock (build_lock.py) while
    it builds.

    Raises UsageError for bad refs, equal versions or a tool without hot upgrades,
    ReleaseNotFound for an unknown --with version, CommandFailed naming the failing step (a
    bad appup fails in "Generating relup" with the release handler's words).
    """
    _check_old_given(from_ref, with_version, from_env)
    build = config.require_build()
    tool_name = detect_tool(config.project_dir, build, config.source)
    upgrade_builder(tool_name)  # refuses a tool without hot upgrades before any work
    root = config.project_dir
    from_rev = git.resolve_revision(root, revision=from_ref) if from_ref is not None else None
    more_revs = [git.resolve_revision(root, revision=ref) for ref in also_from]
    new_rev = _revision(config, out, revision=to_ref, branch=branch or build.branch)
    with ExitStack() as opened:
        if store is None:
            store = opened.enter_context(release_store(config, out))
        old, *more = _distinct(
            _upgrade_sources(config, store, tool_name, from_rev or with_version, more_revs, new_rev)
            + _deployed(config, out, store, from_env, tool_name, new_rev)
        )
        store.check()
        (remote,) = opened.enter_context(connected(config, out, [build.host], private=False))
        store.check_host(remote)
        hooks = Hooks.load(config, out)
        command = f"build upgrade to {new_rev.description}"
        opened.enter_context(build_locked(out, remote, build.at, command, config.lock_wait))
        builder = UpgradeBuild(config, out, remote, store, tool_name, hooks, force=force, edit=edit)
        upgrade = builder.run(old, new_rev, more)
        out.step(
            f"Built upgrade {config.app} {', '.join(upgrade.from_versions)} -> "
            f"{upgrade.version} -> {store.where(upgrade)}"
        )
    return upgrade


def _check_old_given(from_ref: str | None, with_version: str | None, env: str | None) -> None:
    check_version(with_version, "with_version")
    if from_ref is not None and with_version is not None:
        raise UsageError("give the old release with --from=<git ref> or --with=<version>")
    if from_ref is None and with_version is None and env is None:
        raise UsageError(
            "give the old release: --from=<git ref>, --with=<stored version> or "
            "--from-env=<environment>"
        )


def _upgrade_sources(
    config: Config,
    store: ReleaseStore,
    tool_name: str,
    first: git.Revision | str | None,
    more_revs: Sequence[git.Revision],
    new_rev: git.Revision,
) -> list[Release | git.Revision]:
    """What an upgrade is built from: `first` (a revision, or a stored version; None: only
    --from-env) then each of `more_revs`, as the stored build of its commit when the store has
    one (checked to be usable), else the revision to build."""
    sources: list[Release | git.Revision] = []
    if isinstance(first, str):
        sources.append(store.find(config.app, first))
    elif first is not None:
        sources.append(stored_build(store, config.app, first.commit) or first)
    sources += [stored_build(store, config.app, rev.commit) or rev for rev in more_revs]
    for item in sources:
        if isinstance(item, Release):
            check_old_release(item, tool_name, store, config.app, new_rev.commit)
    return sources


def _deployed(
    config: Config,
    out: Output,
    store: ReleaseStore,
    environment: str | None,
    tool_name: str,
    new_rev: git.Revision,
) -> list[Release | git.Revision]:
    """--from-env: the stored release of each version the environment's hosts run."""
    if environment is None:
        return []
    releases = deployed_releases(config, out, store, environment)
    for release in releases:
        check_old_release(release, tool_name, store, config.app, new_rev.commit)
    return list(releases)


def _distinct(sources: list[Release | git.Revision]) -> list[Release | git.Revision]:
    """`sources` without a stored release of a version already among them (--with=0.1.0
    --from-env=production, where a host runs 0.1.0)."""
    seen: set[str] = set()
    kept: list[Release | git.Revision] = []
    for source in sources:
        if isinstance(source, Release):
            if source.version in seen:
                continue
            seen.add(source.version)
        kept.append(source)
    return kept


def show_relup(config: Config, out: Output, version: str) -> tuple[Release, str]:
    """The stored upgrade to `version` and its relup (what the release handler will do)."""
    check_version(version)
    with release_store(config, out) as store:
        return relup_text(store, config.app, version)


def show_appup(config: Config, out: Output, version: str) -> tuple[Release, list[StoredAppup]]:
    """The stored upgrade to `version` and the appups it was built with, one per application
    and old version, as the store keeps them beside it. Raises ReleaseNotFound, also for
    an upgrade stored without them (by an earlier deliver)."""
    check_version(version)
    with release_store(config, out) as store:
        upgrade = store.find(config.app, version, kind="upgrade")
        appups = store.appups(upgrade)
    if not appups:
        raise ReleaseNotFound(
            f"{store.where(upgrade)} has no appups beside it (it was stored by an earlier "
            "deliver, or they were refused above)",
            hint=f"deliver show relup {version} shows what it does; build the upgrade again "
            "to keep its appups",
        )
    return upgrade, appups


def write_appups(appups: Sequence[StoredAppup], directory: Path, force: bool = False) -> list[str]:
    """Copy stored appups into `directory` (the project's rel/appups) as per-pair overrides,
    `<app>/<old>-<new>.appup`; returns the files written. A file there that differs is kept
    unless `force` (UsageError naming it, before anything is written)."""
    targets = [(directory / appup.name, appup.text.encode()) for appup in appups]
    differing = [str(path) for path, data in targets if path.exists() and path.read_bytes() != data]
    if differing and not force:
        raise UsageError(
            f"{', '.join(differing)} already exists and differs",
            hint="use --force to replace it, or write elsewhere",
        )
    written = []
    for path, data in targets:
        if path.exists() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(str(path))
    return written
