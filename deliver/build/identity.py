"""What makes two builds the same build: the version, the commit, the tool and MIX_ENV, from a
build tree that held nothing but the commit.

A store holds one build per version. A build of a version the store holds is either that
same build again (reused, or kept when it was made anyway: replacing it would only make the
hosts that hold it see "a different build") or a different one, which is refused unless
`--force` replaces it. Archives of one commit are compared by these fields, not by sha256:
two builds of one commit differ byte for byte wherever the tool is not reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from deliver.build.tree import BuildTree
from deliver.config import BuildConfig
from deliver.errors import UsageError
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import ReleaseStore
from deliver.shell import quote

#: Build outputs, never sources: what the tree holds there does not make a build dirty.
OUTPUT_PATHS = ("_build", "deps")
#: How many changed files a warning names.
SHOWN_FILES = 5


@dataclass(frozen=True)
class Build:
    """A build as the store compares it: made (with its sha256) or about to be (without)."""

    version: str
    commit: str
    tool: str
    mix_env: str | None
    dirty: bool = False
    sha256: str | None = None

    @classmethod
    def of(cls, release: Release) -> Build:
        return cls(
            release.version,
            release.commit,
            release.tool,
            release.mix_env,
            release.dirty,
            release.sha256,
        )

    def describe(self) -> str:
        sha = f"sha256 {self.sha256[:16]}" if self.sha256 else "not built yet"
        dirty = ", dirty tree" if self.dirty else ""
        return (
            f"commit {self.commit[:10]}{dirty} ({sha}, {self.tool}, MIX_ENV={self.mix_env or '?'})"
        )


def same_build(stored: Release, build: Build) -> bool:
    """Whether `stored` is `build`: same version, commit, tool and MIX_ENV, neither dirty (a
    manifest from before MIX_ENV was recorded is not known to be the same). Equal sha256s
    are the same build whatever the rest says."""
    if build.sha256 is not None and stored.sha256 == build.sha256:
        return True
    return (
        stored.version == build.version
        and stored.commit == build.commit
        and stored.tool == build.tool
        and stored.mix_env is not None
        and stored.mix_env == build.mix_env
        and not stored.dirty
        and not build.dirty
    )


class DifferentBuild(UsageError):
    """The store holds another build of this version: the three ways out are in the hint."""

    def __init__(self, stored: Release, build: Build, location: str) -> None:
        self.stored, self.build = stored, build
        super().__init__(
            f"{stored.app} {stored.version} is already in {location} as a different build: "
            f"stored {Build.of(stored).describe()}, this build {build.describe()}",
            hint="give this build a new version (--increment-version, --auto-version, "
            "--set-version); or replace the stored one with --force (hosts holding the old "
            "build then take the new one with deliver deploy release --force)",
        )


def stored_version(releases: Sequence[Release], version: str | None) -> Release | None:
    return next((r for r in releases if r.version == version), None)


def keep_stored(stored: Release | None, build: Build, force: bool, location: str) -> bool:
    """Whether the store's release of `build.version` is to be kept instead of (re)storing
    this build: True when it is this very build (unless `force`). Raises DifferentBuild for
    another build of that version, unless `force` (then it is replaced)."""
    if stored is None or force:
        return False
    if same_build(stored, build):
        return True
    raise DifferentBuild(stored, build, location)


def tree_changes(
    out: Output, tree: BuildTree, commit: str, patched: Sequence[str] = ()
) -> list[str]:
    """The files of the build tree that differ from `commit` (modified or untracked, not
    ignored), but for the build outputs and the files deliver `patched` (the version); a
    warning names them."""
    excluded = " ".join(quote(f":(exclude){path}") for path in (*OUTPUT_PATHS, *patched))
    result = tree.remote.run(
        f"cd {quote(tree.path)} && git status --porcelain --untracked-files=all -- . {excluded}",
        step="comparing the build tree with the commit",
    )
    changes = [line[3:] for line in result.stdout.splitlines() if len(line) > 3]
    if changes:
        out.warning(_dirty_warning(tree.remote.name, commit, changes))
    return changes


def store_build(
    out: Output, store: ReleaseStore, tree: BuildTree, release: Release, force: bool
) -> Release:
    """Store what `build upgrade` built (its archive still in the build tree) by the rule of
    `build release`: kept when the store holds this very build, refused (DifferentBuild) when
    it holds another build of the version, unless `force`. Returns the stored release."""
    changes = tree_changes(out, tree, release.commit)
    release = identified(release, tree.build, changes)
    stored = stored_version(store.releases(release.app), release.version)
    if keep_stored(stored, Build.of(release), force, store.location):
        assert stored is not None
        out.detail(f"the store already holds this build of {release.version}: kept it")
        return stored
    if stored is not None:
        out.warning(
            f"replacing the stored {release.version}, {Build.of(stored).describe()} (--force)"
        )
    archive = f"{tree.path}/_build/deliver/{release.archive_name}"
    store.receive_from_host(release, tree.remote, archive)
    out.step(f"Stored {release.archive_name}")
    return release


def identified(release: Release, build: BuildConfig, changes: Sequence[str]) -> Release:
    """`release` with what identifies it besides its commit: MIX_ENV, and whether the build
    tree held `changes`."""
    return replace(release, mix_env=build.mix_env, dirty=bool(changes))


def _dirty_warning(host: str, commit: str, changes: Sequence[str]) -> str:
    shown = ", ".join(changes[:SHOWN_FILES])
    more = f" and {len(changes) - SHOWN_FILES} more" if len(changes) > SHOWN_FILES else ""
    return (
        f"the build tree on {host} differs from commit {commit[:10]} ({shown}{more}): the "
        "release is recorded as a dirty build, which is never reused as the commit's"
    )
