"""`deliver build upgrade`: an upgrade package from one release to the next, for a hot upgrade.

On the build host, over one SSH connection:

1. the old release: `--with=<version>` uploads it from the store; `--from=<ref>` builds it (or
   reuses the stored release built from that very commit) and stores it; more `--from`s (mix)
   make one upgrade from each of those versions (a relup entry for every one);
2. the new release is built from `--to` (default: the branch head) and stored;
3. all are unpacked side by side; every application whose version changed (the app and its
   dependencies) gets an appup, per old version: the user's `rel/appups/<app>/<old>-<new>.appup`,
   else the user's `rel/appups/<app>.appup` when it is the appup of the new version (a stale
   one is named and not used), else one the release already holds (rebar3 copies a project's
   `ebin/<app>.appup`), else one generated from the .beam files (appup.py says how);
4. the build tool writes the relup (mix: `systools:make_relup`; rebar3: `rebar3 relup`) and
   packs `<app>_<new>.upgrade.tar.gz`, which goes into the store with a manifest naming both
   versions and commits (a remote store receives it from the build host directly).

The Erlang side of steps 3-4 is `erlang/upgrade.escript`, uploaded with every build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

from deliver.build import git
from deliver.build.appup import (
    APPUP_DIR,
    AppupEditor,
    AppupReport,
    edit_appups,
    pair_files,
    report_appups,
)
from deliver.build.identity import store_build
from deliver.build.tree import (
    BuildOptions,
    in_build_dir,
    pack_release,
    prepare_build_dir,
    run_steps,
    send_commit,
)
from deliver.build.versions import VersionPlan
from deliver.config import Config
from deliver.errors import UsageError
from deliver.hooks import HookEnv, Hooks
from deliver.output import Output
from deliver.release import Release, now
from deliver.release_store import ReleaseStore
from deliver.shell import check_sha256, join, parse_key_values, quote
from deliver.tools import UPGRADE_DIR, UpgradeWork, build_tool, upgrade_builder
from deliver.transport.remote import Remote


@dataclass
class UpgradeBuild:
    """The build host's part of `build upgrade`, over its one connection."""

    config: Config
    out: Output
    remote: Remote
    store: ReleaseStore
    tool_name: str
    hooks: Hooks
    force: bool = False  # --force: replace a stored different build of a version
    #: `build upgrade --edit`: shown every appup before the relup is made
    edit: AppupEditor | None = None

    def run(
        self,
        old: Release | git.Revision,
        new_rev: git.Revision,
        more: Sequence[Release | git.Revision] = (),
    ) -> Release:
        """Build the upgrade to `new_rev` from `old` (and from each of `more`: one relup
        with an entry for every one of them)."""
        build, remote = self.config.require_build(), self.remote
        self.out.step(f"Preparing build directory {build.at} on {remote.name}")
        build_dir = prepare_build_dir(remote, build.at)
        work = UpgradeWork(f"{build_dir}/{UPGRADE_DIR}", "", "")
        remote.run(
            join(f"rm -rf {quote(work.dir)}", f"mkdir -p {quote(work.dir)}"),
            step="preparing the upgrade directory",
        )
        remote.upload(_escript(), work.escript)
        olds = [
            self._old_release(build_dir, item, _old_archive(work, number))
            for number, item in enumerate([old, *more])
        ]
        versions = [release.version for release in olds]
        if len(set(versions)) < len(versions):
            raise UsageError(f"the old releases are not all different versions: {versions}")
        new, archive = self.build_revision(build_dir, new_rev, olds)
        remote.run(f"mv {quote(archive)} {quote(work.new_archive)}")
        work = replace(work, old=",".join(versions), new=new.version)
        return self.relup(build_dir, work, olds, new)

    def _old_release(self, build_dir: str, old: Release | git.Revision, path: str) -> Release:
        """The old release's archive at `path` on the build host: sent from the store, or
        built (and stored)."""
        remote = self.remote
        if isinstance(old, Release):
            self.out.step(f"Sending the stored {old.app} {old.version} to {remote.name}")
            self.store.send_to_host(old, remote, path)
            _verify(remote, old, path)
            return old
        release, archive = self.build_revision(build_dir, old)
        remote.run(f"mv {quote(archive)} {quote(path)}")
        return release

    def build_revision(
        self, build_dir: str, target: git.Revision, olds: Sequence[Release] = ()
    ) -> tuple[Release, str]:
        """Build `target` like `deliver build release` (same steps and hooks) and store it,
        unless the store holds that commit's build already; returns it and its archive on the
        build host. Refuses a new release whose version is the old one's."""
        config, out, remote = self.config, self.out, self.remote
        build = config.require_build()
        tool = build_tool(self.tool_name)
        out.step(f"Building {target.description} ({target.commit[:10]})")
        env = HookEnv(
            app=config.app,
            host=remote.name,
            cwd=build_dir,
            revision=target.commit,
            branch=target.branch or "",
            mix_env=build.mix_env,
            build_at=build_dir,
            extra=build.env,
        )
        tree = send_commit(config, remote, out, self.hooks, env, target, BuildOptions())
        plan = VersionPlan(None, {}, enforced=False)
        run_steps(tree, self.hooks, tool, config.app, plan)
        release = pack_release(tree, tool, config.app, target, plan)
        archive = f"{tree.path}/_build/deliver/{release.archive_name}"
        if release.version in [old.version for old in olds]:
            raise UsageError(
                f"{target.description} builds {config.app} {release.version}, a version it "
                "would upgrade from: an upgrade needs a new version",
                hint="bump the version of the release, commit, and build the upgrade again",
            )
        release = store_build(out, self.store, tree, release, self.force)
        return release, archive

    def relup(
        self, build_dir: str, work: UpgradeWork, olds: Sequence[Release], new: Release
    ) -> Release:
        """Appups, relup and the upgrade archive, stored; returns the upgrade's manifest."""
        config, out, remote = self.config, self.out, self.remote
        build = config.require_build()
        builder = upgrade_builder(self.tool_name)
        out.step(f"Unpacking {', '.join(r.version for r in olds)} beside {new.version}")
        root = builder.upgrade_root(config.app, build)
        unpack_new = root != build_tool(self.tool_name).release_root(config.app, build)
        archives = [_old_archive(work, number) for number in range(len(olds))]
        report = _place_appups(
            remote, out, build_dir, build.release_name(config.app), root, work, unpack_new, archives
        )
        appups = report.appups
        edited = (
            edit_appups(remote, f"{build_dir}/{root}", appups, self.edit, out) if self.edit else ()
        )
        work = replace(work, appups=tuple(dict.fromkeys(a.path for a in appups)))
        for step in builder.relup_steps(config.app, build, work):
            out.step(step.title)
            script = in_build_dir(build_dir, build, step.command)
            remote.run(script.command, stdin=script.stdin, step=step.title)
        values = _measure(remote, work, f"{build_dir}/{root}/releases/{new.version}/relup")
        upgrade = Release(
            app=config.app,
            version=new.version,
            commit=new.commit,
            branch=new.branch,
            tool=self.tool_name,
            built_at=now(),
            sha256=values["SHA256"],
            size=int(values["SIZE"]),
            kind="upgrade",
            from_version=olds[0].version,
            from_commit=olds[0].commit,
            generated_appups=tuple(
                dict.fromkeys(
                    a.app for a in appups if a.source == "generated" and a.app not in edited
                )
            ),
            changed_protocols=report.protocols,
            from_sha256=olds[0].sha256,
            also_from=tuple(f"{r.version} {r.commit} {r.sha256}" for r in olds[1:]),
            erts=report.erts,
            appups=tuple(dict.fromkeys(a.app for a in appups)),
            changed_nifs=report.nifs,
            changed_supervisors=report.tree_changes(),
            restarts_emulator=values.get("RESTARTS") == "yes",
        )
        kept = pair_files(remote, work.escript, f"{build_dir}/{root}", appups, edited)
        out.step(f"Storing {upgrade.archive_name} and its appups in {self.store.location}")
        self.store.put_appups(upgrade, kept)  # before the manifest makes the upgrade visible
        self.store.receive_from_host(upgrade, remote, work.upgrade_archive)
        return upgrade


def stored_build(store: ReleaseStore, app: str, commit: str) -> Release | None:
    """The stored release built from `commit`, if any: no need to build it again."""
    return next((r for r in reversed(store.releases(app)) if r.commit == commit), None)


def check_old_release(
    old: Release, tool: str, store: ReleaseStore, app: str, new_commit: str
) -> None:
    if old.tool != tool:
        raise UsageError(f"{app} {old.version} was built with {old.tool}, this project uses {tool}")
    same = stored_build(store, app, new_commit)
    if same is not None and same.version == old.version:
        raise UsageError(
            f"the new release would be {old.version} again (commit {new_commit[:10]}): "
            "an upgrade needs a new version",
            hint="bump the version of the release, commit, and build the upgrade again",
        )


def _escript() -> bytes:
    return (resources.files("deliver") / "erlang" / "upgrade.escript").read_bytes()


def _verify(remote: Remote, release: Release, path: str) -> None:
    remote.run(
        check_sha256(quote(path), release.sha256),
        step="verifying the archive",
    )


def _measure(remote: Remote, work: UpgradeWork, relup: str) -> dict[str, str]:
    """The upgrade archive's SHA256 and SIZE (made private: it holds the cookie), and
    RESTARTS=yes when its relup restarts the emulator (the release handler reboots the node:
    none keeps its state)."""
    measured = remote.run(
        f'a={quote(work.upgrade_archive)}; chmod 0600 "$a";'
        f" echo SHA256=$(sha256sum \"$a\" | cut -d' ' -f1);"
        ' echo SIZE=$(stat -c %s "$a");'
        f" ! grep -qE 'restart_(new_)?emulator' {quote(relup)} || echo RESTARTS=yes",
        step="measuring the upgrade archive",
    )
    return parse_key_values(measured.stdout)


def _old_archive(work: UpgradeWork, number: int) -> str:
    """Where the `number`th old release's archive is put on the build host."""
    return work.old_archive if number == 0 else f"{work.dir}/old-{number}.tar.gz"


def _place_appups(
    remote: Remote,
    out: Output,
    build_dir: str,
    app: str,
    root: str,
    work: UpgradeWork,
    unpack_new: bool,
    old_archives: Sequence[str],
) -> AppupReport:
    """Unpack the old releases beside the new one in `root` (and the new one first, unless
    it was assembled there) and put an appup in place for every application whose version
    changed; returns what the escript found."""
    script = join(
        f"cd {quote(build_dir)}",
        f"rm -rf {quote(root)}" if unpack_new else "",
        f"mkdir -p {quote(root)}",
        f"tar -xzf {quote(work.new_archive)} -C {quote(root)}" if unpack_new else "",
        # --skip-old-files: the new release's start script, start_erl.data and RELEASES win
        *(f"tar -xzf {quote(a)} -C {quote(root)} --skip-old-files" for a in old_archives),
        f'escript {quote(work.escript)} appups "$PWD"/{quote(root)} {quote(app)} '
        f"{quote(work.old)} {quote(work.new)} {APPUP_DIR} 2>&1",
        # the ERTS the new release boots: a node on another one must not take it hot
        f"echo ERTS=$(cut -d' ' -f1 {quote(root)}/releases/start_erl.data 2>/dev/null)",
    )
    output = remote.run(script, step="preparing appups").stdout
    report = AppupReport.parse(output)
    report_appups(out, report, work.old, work.new)
    out.detail(output)
    return report
