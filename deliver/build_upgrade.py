"""`deliver build upgrade`: an upgrade package from one release to the next, for a hot upgrade.

On the build host, over one SSH connection:

1. the old release: `--with=<version>` uploads it from the store; `--from=<ref>` builds it (or
   reuses the stored release built from that very commit) and stores it;
2. the new release is built from `--to` (default: the branch head) and stored;
3. both are unpacked side by side; every application whose version changed gets an appup:
   the user's `rel/appups/<app>.appup`, else one the release already holds (rebar3 copies a
   project's `ebin/<app>.appup`), else a generated default one (said in the output);
4. the build tool writes the relup (mix: `systools:make_relup`; rebar3: `rebar3 relup`) and
   packs `<app>_<new>.upgrade.tar.gz`, which goes into the store with a manifest naming both
   versions and commits.

The Erlang side of steps 3-4 is `erlang/upgrade.escript`, uploaded with every build.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from deliver import git
from deliver.build import in_build_dir, pack, prepare_build_dir, reset_command
from deliver.config import Config
from deliver.errors import DeliverError, ReleaseNotFound, UsageError
from deliver.hosts import connect_all
from deliver.output import Output
from deliver.release import Release, now
from deliver.release_store import LocalStore
from deliver.remote import Remote
from deliver.shell import join, parse_key_values, quote
from deliver.tools import UPGRADE_DIR, UpgradeWork, build_tool, detect_tool, upgrade_builder

#: where users keep appups, relative to the project root: rel/appups/<app>.appup
APPUP_DIR = "rel/appups"


@dataclass(frozen=True)
class Appup:
    app: str
    old: str
    new: str
    source: str  # user, release or generated

    @property
    def path(self) -> str:
        return f"lib/{self.app}-{self.new}/ebin/{self.app}.appup"


def build_upgrade(
    config: Config,
    out: Output,
    *,
    from_ref: str | None = None,
    with_version: str | None = None,
    to_ref: str | None = None,
    branch: str | None = None,
) -> Release:
    """Build the upgrade from `from_ref`'s (or the stored `with_version`'s) release to the
    release of `to_ref` (default: the branch head) into the store.

    Raises UsageError for bad refs, equal versions or a tool without hot upgrades,
    ReleaseNotFound for an unknown --with version, CommandFailed naming the failing step (a
    bad appup fails in "Generating relup" with the release handler's words).
    """
    if (from_ref is None) == (with_version is None):
        raise UsageError("give the old release: --from=<git ref> or --with=<stored version>")
    build = config.require_build()
    tool_name = detect_tool(config.project_dir, build, config.source)
    builder = upgrade_builder(tool_name)
    store = LocalStore(config.release_store)
    new_rev = git.resolve_revision(
        config.project_dir, revision=to_ref, branch=branch or build.branch
    )
    old: Release | git.Revision
    if with_version is not None:
        old = store.find(config.app, with_version)
    else:
        old = git.resolve_revision(config.project_dir, revision=from_ref)
        old = _stored_build(store, config.app, old.commit) or old
    if isinstance(old, Release):
        _check_old(old, tool_name, store, config.app, new_rev.commit)
    if git.working_tree_dirty(config.project_dir):
        out.warning(f"uncommitted changes are not built: building commit {new_rev.commit[:10]}")
    host = build.host.name
    with connect_all([build.host], config.ssh, out, verbose=out.verbose, debug=out.debug) as (
        remote,
    ):
        out.step(f"Preparing build directory {build.at} on {host}")
        build_dir = prepare_build_dir(remote, build.at)
        work = UpgradeWork(f"{build_dir}/{UPGRADE_DIR}", "", "")
        remote.run(
            join(f"rm -rf {quote(work.dir)}", f"mkdir -p {quote(work.dir)}"),
            step="preparing the upgrade directory",
        )
        remote.upload(_escript(), work.escript)
        if isinstance(old, Release):
            out.step(f"Uploading the stored {old.app} {old.version} to {host}")
            _upload(remote, store.archive(old), old, work.old_archive)
        else:
            old = _build_revision(remote, config, out, build_dir, old, tool_name, store)
            remote.run(f"mv {quote(_packed(build_dir, old))} {quote(work.old_archive)}")
        new = _build_revision(remote, config, out, build_dir, new_rev, tool_name, store, old)
        remote.run(f"mv {quote(_packed(build_dir, new))} {quote(work.new_archive)}")
        work = replace(work, old=old.version, new=new.version)

        out.step(f"Unpacking {old.version} beside {new.version}")
        root = builder.upgrade_root(config.app, build)
        unpack_new = root != build_tool(tool_name).release_root(config.app, build)
        appups, protocols = _place_appups(
            remote, out, build_dir, config.app, root, work, unpack_new
        )
        work = replace(work, appups=tuple(a.path for a in appups))
        for step in builder.relup_steps(config.app, build, work):
            out.step(step.title)
            remote.run(in_build_dir(build_dir, build, step.command), step=step.title)
        values = parse_key_values(
            remote.run(
                f"a={quote(work.upgrade_archive)}; echo SHA256=$(sha256sum \"$a\" | cut -d' ' -f1);"
                ' echo SIZE=$(stat -c %s "$a")',
                step="measuring the upgrade archive",
            ).stdout
        )
        upgrade = Release(
            app=config.app,
            version=new.version,
            commit=new.commit,
            branch=new.branch,
            tool=tool_name,
            built_at=now(),
            sha256=values["SHA256"],
            size=int(values["SIZE"]),
            kind="upgrade",
            from_version=old.version,
            from_commit=old.commit,
            generated_appups=tuple(a.app for a in appups if a.source == "generated"),
            changed_protocols=protocols,
        )
        out.step(f"Copying {upgrade.archive_name} to the store")
        store.add(upgrade, lambda file: remote.download(work.upgrade_archive, file))
    out.step(
        f"Built upgrade {config.app} {old.version} -> {new.version} -> {store.archive(upgrade)}"
    )
    return upgrade


def relup_text(store: LocalStore, app: str, version: str) -> tuple[Release, str]:
    """The stored upgrade to `version` and its relup file, as written by systools."""
    upgrade = store.find(app, version, kind="upgrade")
    wanted = {f"releases/{version}/relup", f"./releases/{version}/relup"}
    with tarfile.open(store.archive(upgrade)) as archive:
        member = next((m for m in archive.getmembers() if m.name in wanted), None)
        extracted = archive.extractfile(member) if member else None
        if extracted is None:
            raise DeliverError(f"{store.archive(upgrade)} holds no releases/{version}/relup")
        return upgrade, extracted.read().decode()


def _packed(build_dir: str, release: Release) -> str:
    """Where `pack` left the archive of `release` on the build host."""
    return f"{build_dir}/_build/deliver/{release.archive_name}"


def _stored_build(store: LocalStore, app: str, commit: str) -> Release | None:
    """The stored release built from `commit`, if any: no need to build it again."""
    return next((r for r in reversed(store.releases(app)) if r.commit == commit), None)


def _check_old(old: Release, tool: str, store: LocalStore, app: str, new_commit: str) -> None:
    if old.tool != tool:
        raise UsageError(f"{app} {old.version} was built with {old.tool}, this project uses {tool}")
    same = _stored_build(store, app, new_commit)
    if same is not None and same.version == old.version:
        raise UsageError(
            f"the new release would be {old.version} again (commit {new_commit[:10]}): "
            "an upgrade needs a new version",
            hint="bump the version of the release, commit, and build the upgrade again",
        )


def _escript() -> bytes:
    return (resources.files("deliver") / "erlang" / "upgrade.escript").read_bytes()


def _upload(remote: Remote, archive: Path, release: Release, destination: str) -> None:
    remote.upload(archive, destination)
    remote.run(
        f'echo "{release.sha256}  "{quote(destination)} | sha256sum -c --status'
        ' || { echo "the upload arrived corrupted (sha256 mismatch)"; exit 1; }',
        step="verifying the upload",
    )


def _build_revision(
    remote: Remote,
    config: Config,
    out: Output,
    build_dir: str,
    target: git.Revision,
    tool_name: str,
    store: LocalStore,
    old: Release | None = None,
) -> Release:
    """Build `target` like `deliver build release` and store it (unless the store holds that
    commit's build already); refuses a new release whose version is the old one's."""
    build = config.require_build()
    tool = build_tool(tool_name)
    out.step(f"Building {target.description} ({target.commit[:10]}) on {build.host.name}")
    out.detail(git.push(config.project_dir, target.commit, build.host, build_dir, config.ssh))
    remote.run(reset_command(build_dir, target.commit, build), step="reset")
    for step in tool.build_steps(config.app, build):
        out.step(f"{step.title} ({tool_name}, {build.mix_env})")
        remote.run(in_build_dir(build_dir, build, step.command), step=step.title)
    packed = pack(remote, build_dir, config.app, tool.release_root(config.app, build))
    if old is not None and packed["VERSION"] == old.version:
        raise UsageError(
            f"{target.description} builds {config.app} {old.version}, the version it would "
            "upgrade from: an upgrade needs a new version",
            hint="bump the version of the release, commit, and build the upgrade again",
        )
    release = Release(
        app=config.app,
        version=packed["VERSION"],
        commit=target.commit,
        branch=target.branch,
        tool=tool_name,
        built_at=now(),
        sha256=packed["SHA256"],
        size=int(packed["SIZE"]),
    )
    try:
        stored = store.find(config.app, release.version)
    except ReleaseNotFound:
        stored = None
    if stored is not None and stored.commit == release.commit:
        out.detail(f"the store already holds {release.version} from this commit")
        return release
    if stored is not None:
        out.warning(
            f"replacing the stored {release.version} (commit {stored.commit[:10]}) with the "
            f"build of {target.commit[:10]}"
        )
    store.add(release, lambda file: remote.download(packed["ARCHIVE"], file))
    out.step(f"Stored {release.archive_name}")
    return release


def _place_appups(
    remote: Remote,
    out: Output,
    build_dir: str,
    app: str,
    root: str,
    work: UpgradeWork,
    unpack_new: bool,
) -> tuple[list[Appup], tuple[str, ...]]:
    """Unpack the old release beside the new one in `root` (and the new one first, unless it
    was assembled there) and put an appup in place for every application whose version
    changed; returns the appups and the changed protocols."""
    script = join(
        f"cd {quote(build_dir)}",
        f"rm -rf {quote(root)}" if unpack_new else "",
        f"mkdir -p {quote(root)}",
        f"tar -xzf {quote(work.new_archive)} -C {quote(root)}" if unpack_new else "",
        # --skip-old-files: the new release's start script, start_erl.data and RELEASES win
        f"tar -xzf {quote(work.old_archive)} -C {quote(root)} --skip-old-files",
        f'escript {quote(work.escript)} appups "$PWD"/{quote(root)} {quote(app)} '
        f"{quote(work.old)} {quote(work.new)} {APPUP_DIR} 2>&1",
    )
    output = remote.run(script, step="preparing appups").stdout
    appups: list[Appup] = []
    protocols: list[str] = []
    for line in output.splitlines():
        words = line.split()
        if len(words) == 5 and words[0] == "appup":
            appups.append(Appup(*words[1:]))
        elif len(words) == 2 and words[0] == "protocol":
            protocols.append(words[1])
    for appup in appups:
        if appup.source == "generated":
            out.warning(
                f"{appup.app} {appup.old} -> {appup.new} has no appup: generated a default one "
                f"(put yours in {APPUP_DIR}/{appup.app}.appup); see `deliver show relup "
                f"{work.new}`"
            )
        else:
            where = f"{APPUP_DIR}/{appup.app}.appup" if appup.source == "user" else "the release"
            out.step(f"Using the appup of {appup.app} from {where}")
    if not appups:
        out.warning(f"no application changed its version between {work.old} and {work.new}")
    if protocols:
        out.warning(
            "consolidated protocols differ and are not hot-upgraded (the node keeps the old "
            f"ones until it restarts): {', '.join(protocols)}"
        )
    out.detail(output)
    return appups, tuple(protocols)
