"""The store commands: show, upload and download (between a local directory and the configured
remote or S3 store), and prune."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from deliver.build.identity import Build, same_build
from deliver.config import Config
from deliver.errors import InvalidArgument, UsageError
from deliver.output import Output
from deliver.release import Release, check_version
from deliver.release_store import LocalStore, ReleaseStore, open_store

#: The local directory upload and download use unless told otherwise (the default local store).
LOCAL_DIR = ".deliver-releases"


RELEASE_HEADERS = ("VERSION", "COMMIT", "BRANCH", "BUILT", "SIZE")
UPGRADE_HEADERS = ("UPGRADE TO", "FROM", "COMMIT", "BUILT", "SIZE")


@dataclass(frozen=True)
class StoreListing:
    """The store's releases and hot upgrades of the app, one row each, oldest version first."""

    location: str
    releases: list[Release]
    release_rows: list[tuple[str, ...]]
    upgrade_rows: list[tuple[str, ...]]


def show_releases(config: Config, out: Output, kind: str = "release") -> StoreListing:
    """The store's releases of the app (version, commit, branch, build time, size) and, for
    releases, the upgrades between them."""
    with _open(config, out) as store:
        releases = store.releases(config.app, kind)
        upgrades = store.releases(config.app, "upgrade") if kind == "release" else []
    return StoreListing(
        store.location,
        releases,
        [
            (r.version, _commit(r), r.branch or "-", r.built_at, f"{r.size / 1e6:.1f} MB")
            for r in releases
        ],
        [
            (u.version, u.from_version or "?", u.commit[:10], u.built_at, f"{u.size / 1e6:.1f} MB")
            for u in upgrades
        ],
    )


def upload_release(
    config: Config,
    out: Output,
    version: str | None,
    *,
    local_dir: Path | None = None,
    force: bool = False,
) -> Release:
    """Copy a release from the local directory into the configured remote or S3 store.

    Refuses to replace a different build of the same version unless `force`.
    """
    check_version(version)
    _require_remote(config, "upload")
    local = LocalStore(local_dir or config.project_dir / LOCAL_DIR, out)
    release = local.find(config.app, version)
    with _open(config, out) as store:
        if _already_there(store, release, force, out):
            return release
        store.check()
        out.step(f"Uploading {release.archive_name} ({_mb(release)}) to {store.location}")
        with out.progress("uploading to", {store.location: release.size}) as advance_for:
            store.put(release, local.archive(release), advance_for(store.location))
    out.step(f"Uploaded {release.app} {release.version} -> {store.where(release)}")
    return release


def download_release(
    config: Config,
    out: Output,
    version: str | None,
    *,
    local_dir: Path | None = None,
    force: bool = False,
) -> Release:
    """Copy a release from the configured remote or S3 store into the local directory, checking
    its sha256. Refuses to replace a different build of the same version unless `force`."""
    check_version(version)
    _require_remote(config, "download")
    local = LocalStore(local_dir or config.project_dir / LOCAL_DIR, out)
    with _open(config, out) as store:
        release = store.find(config.app, version)
        if _already_there(local, release, force, out):
            return release
        out.step(f"Downloading {release.archive_name} ({_mb(release)}) from {store.location}")
        with out.progress("downloading from", {store.location: release.size}) as advance_for:
            local.add(release, lambda file: store.get(release, file, advance_for(store.location)))
    out.step(f"Downloaded {release.app} {release.version} -> {local.where(release)}")
    return release


def prune_releases(config: Config, out: Output, keep: int) -> list[Release]:
    """Delete all but the `keep` newest releases of the app from the store; returns those
    deleted."""
    if keep < 1:
        raise InvalidArgument("keep", f"must be at least 1, got {keep}")
    with _open(config, out) as store:
        releases = store.releases(config.app)
        doomed = releases[:-keep]
        if not doomed:
            out.info(f"{store.location} holds {len(releases)} release(s) of {config.app}: kept")
            return []
        out.step(f"Removing {len(doomed)} release(s) of {config.app} from {store.location}")
        for release in doomed:
            store.remove(release)
            out.host_status(store.location, True, f"removed {release.version}")
    kept = ", ".join(r.version for r in releases[-keep:])
    out.step(f"Kept {kept}")
    return doomed


def _open(config: Config, out: Output) -> AbstractContextManager[ReleaseStore]:
    return open_store(config, out, verbose=out.verbose, debug=out.debug)


def _require_remote(config: Config, command: str) -> None:
    if isinstance(config.release_store, Path):
        raise UsageError(
            f"{command} copies releases between a local directory and a remote or S3 "
            f"release store, but release_store is the local directory {config.release_store}",
            hint='set release_store to "user@host:/path" or "s3://bucket/prefix"',
        )


def _commit(release: Release) -> str:
    """The commit column: `-dirty` for a build whose tree held more than the commit."""
    return release.commit[:10] + ("-dirty" if release.dirty else "")


def _already_there(target: ReleaseStore, release: Release, force: bool, out: Output) -> bool:
    """True when `target` holds this very build (the same bytes, or the same commit, tool and
    MIX_ENV: build/identity.py); refuses a different build unless `force`."""
    existing = next((r for r in target.releases(release.app) if r.version == release.version), None)
    if existing is None or force:
        return False
    if same_build(existing, Build.of(release)):
        out.info(f"{target.location} already holds {release.app} {release.version}")
        return True
    raise UsageError(
        f"{target.location} already holds a different build of {release.app} "
        f"{release.version}: {Build.of(existing).describe()}, built {existing.built_at}; "
        f"this one {Build.of(release).describe()}",
        hint="--force replaces it",
    )


def _mb(release: Release) -> str:
    return f"{release.size / 1e6:.1f} MB"
