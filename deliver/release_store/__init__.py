"""Where release archives live between build and deploy: a local directory, a directory on
another machine over SSH, or S3 (or an S3-compatible server).

Every kind holds the same files: the archive `<app>_<version>.release.tar.gz` (or
`.upgrade.tar.gz`, with the appups it was built with in `<archive>.appups/`, see appups.py) and
beside it the manifest `<app>_<version>.release.json` (app, version, commit, branch, tool, build
time, sha256, size). A release is visible only once both are
there: the archive is stored first (verified against its sha256), the manifest last.

With a remote store, archives travel between the store and the build or deploy hosts directly,
never through the machine running deliver:

    store   build host -> store                 store -> each deploy host
    local   fetched over the build connection   uploaded over each host's connection
    ssh     build host: ssh store 'cat > ...'   deploy host: ssh store 'cat ...'
    s3      build host: curl, presigned PUT     deploy host: curl, presigned GET

Each deploy host checks the sha256 of what it received before the release is extracted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from deliver.config import Config, S3StoreSpec, SshStoreSpec
from deliver.release import Release
from deliver.release_store.appups import StoredAppup
from deliver.release_store.local import LocalStore
from deliver.transport.remote import OutputSink, Progress, Remote, Writable

__all__ = ["LocalStore", "ReleaseStore", "StoredAppup", "open_store"]


class ReleaseStore(Protocol):
    """What build, deploy and the store commands need from a store of any kind."""

    @property
    def location(self) -> str:
        """Where the store is, as the user wrote it: a path, host:path or s3://bucket/prefix."""
        ...

    @property
    def is_local(self) -> bool:
        """True when archives pass through this machine (so transfers can show progress)."""
        ...

    def check(self) -> None:
        """Fail early and clearly when the store cannot take releases (unreachable, missing
        bucket, refused credentials, not writable)."""
        ...

    def check_host(self, remote: Remote) -> None:
        """Fail early when `remote` (a build or deploy host) cannot reach the store itself."""
        ...

    def releases(self, app: str, kind: str = "release") -> list[Release]:
        """Every complete release of `app`, oldest version first; a manifest that fails the
        Release gate (release.py) is reported to the store's sink by file name, and skipped."""
        ...

    def find(self, app: str, version: str | None = None, kind: str = "release") -> Release:
        """The release with `version`, or the newest; raises ReleaseNotFound, or ManifestInvalid
        when the manifest of `version` was refused."""
        ...

    def where(self, release: Release) -> str:
        """The archive's full location, for messages."""
        ...

    def put(self, release: Release, archive: Path, progress: Progress | None = None) -> None:
        """Store a local archive and its manifest."""
        ...

    def get(self, release: Release, local: Writable, progress: Progress | None = None) -> None:
        """Stream the archive into `local` (the caller checks its sha256)."""
        ...

    def receive_from_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """Store the archive at `path` on `remote` (the build host), then its manifest."""
        ...

    def send_to_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """Put the archive at `path` on `remote` (a deploy host); the caller verifies it."""
        ...

    def put_appups(self, release: Release, files: Mapping[str, bytes]) -> None:
        """Replace the appups stored beside the upgrade `release` with `files`
        (`<app>/<old>-<new>.appup` -> content; see appups.py)."""
        ...

    def appups(self, release: Release) -> list[StoredAppup]:
        """The appups stored beside `release` (none for an upgrade stored before deliver kept
        them), sorted by name; each file that fails the check of appups.py is reported to the
        store's sink by name, and skipped."""
        ...

    def remove(self, release: Release) -> None:
        """Delete the release (and its appups): manifest first, so it is never half visible."""
        ...

    def close(self) -> None: ...


@contextmanager
def open_store(
    config: Config, sink: OutputSink | None = None, *, verbose: bool = False, debug: bool = False
) -> Iterator[ReleaseStore]:
    """The configured store, connected for the duration of the block (one SSH connection for
    an SSH store); `sink` hears of the manifests it refuses. Raises ConnectionFailed when an
    SSH store host cannot be reached."""
    spec = config.release_store
    store: ReleaseStore
    if isinstance(spec, SshStoreSpec):
        from deliver.release_store.ssh import SshStore

        store = SshStore(spec, config.ssh, sink, verbose=verbose, debug=debug).open()
    elif isinstance(spec, S3StoreSpec):
        from deliver.release_store.s3 import S3Store

        store = S3Store(spec, config.ssh.connect_timeout, sink)
    else:
        store = LocalStore(spec, sink)
    try:
        yield store
    finally:
        store.close()
