"""A release store in a local directory: build fetches archives into it over the build host's
connection, deploy uploads them from it over each host's connection."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deliver.errors import StoreError
from deliver.release import MAX_MANIFEST_BYTES, Release
from deliver.release_store.appups import (
    MAX_APPUP_BYTES,
    StoredAppup,
    appups_directory,
    check_names,
    read_appups,
)
from deliver.release_store.base import Listing, Unreadable, find_release, read_listing
from deliver.transport.remote import CHUNK, OutputSink, Progress, Remote, Writable


@dataclass(frozen=True)
class LocalStore:
    path: Path
    #: hears of manifests the listing refused
    sink: OutputSink | None = field(default=None, compare=False, repr=False)
    is_local = True

    @property
    def location(self) -> str:
        return str(self.path)

    def check(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"the release store {self.path} is not a directory")

    def check_host(self, remote: Remote) -> None:
        """Nothing to check: archives travel over the connection deliver already holds."""

    def releases(self, app: str, kind: str = "release") -> list[Release]:
        """Every complete release of `app` in the store, oldest version first; a manifest
        that fails the Release gate is reported to the sink and skipped."""
        return self._listing(app, kind).usable(self.sink)

    def find(self, app: str, version: str | None = None, kind: str = "release") -> Release:
        """The release with `version`, or the newest one; raises ReleaseNotFound, or
        ManifestInvalid when the manifest of `version` was refused."""
        return find_release(self._listing(app, kind), app, version, kind, self.sink)

    def _listing(self, app: str, kind: str) -> Listing:
        if not self.path.is_dir():
            return Listing(self.location, [])
        complete = (
            manifest
            for manifest in sorted(self.path.glob(f"{app}_*.{kind}.json"))
            if manifest.with_name(manifest.name.removesuffix(".json") + ".tar.gz").exists()
        )
        return read_listing(
            ((manifest.name, _read_at_most(manifest, MAX_MANIFEST_BYTES)) for manifest in complete),
            self.location,
            app,
            kind,
        )

    def archive(self, release: Release) -> Path:
        return self.path / release.archive_name

    def where(self, release: Release) -> str:
        return str(self.archive(release))

    def add(self, release: Release, write: Callable[[Writable], None]) -> Release:
        """Store an archive produced by `write(file)`; its sha256 must match the manifest's.

        The archive holds the Erlang cookie: archive and manifest are 0600, in a directory
        made 0700 (one that already exists keeps the mode its owner gave it), each written
        to a fresh name and renamed into place."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with _written(self.path, release.archive_name) as raw:
            write(_HashingWriter(raw, digest))
            if digest.hexdigest() != release.sha256:
                raise StoreError(
                    f"{release.archive_name} arrived corrupted: sha256 "
                    f"{digest.hexdigest()} instead of {release.sha256}"
                )
        with _written(self.path, release.manifest_name) as raw:
            raw.write(release.to_json().encode())
        return release

    def put(self, release: Release, archive: Path, progress: Progress | None = None) -> None:
        """Copy a local archive in, checking it against the manifest's sha256."""
        self.add(release, lambda file: _copy(archive, file, progress))

    def get(self, release: Release, local: Writable, progress: Progress | None = None) -> None:
        _copy(self.archive(release), local, progress)

    def receive_from_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """Fetch the archive at `path` on `remote` (the build host) over its connection."""
        self.add(release, lambda file: remote.download(path, file, progress))

    def send_to_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """Upload the archive to `path` on `remote`; the caller verifies its sha256 there."""
        remote.upload(self.archive(release), path, progress)

    def put_appups(self, release: Release, files: Mapping[str, bytes]) -> None:
        """Replace the appups stored beside `release`'s archive with `files`."""
        check_names(files)
        directory = self._appups(release)
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_tree(directory)
        for name, data in files.items():
            target = directory / name
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with _written(target.parent, target.name) as raw:
                raw.write(data)

    def appups(self, release: Release) -> list[StoredAppup]:
        """The appups stored beside `release`'s archive (none for an upgrade stored before
        deliver kept them), each checked; refused ones are reported to the sink."""
        directory = self._appups(release)
        if directory.is_symlink() or not directory.is_dir():
            return []
        files = (
            (
                f"{path.parent.name}/{path.name}",
                # never through a link: it could point anywhere on this machine
                Unreadable("a symbolic link")
                if path.is_symlink() or path.parent.is_symlink()
                else _read_at_most(path, MAX_APPUP_BYTES),
            )
            for path in sorted(directory.glob("*/*"))
        )
        return read_appups(files, release, self.location, self.sink)

    def _appups(self, release: Release) -> Path:
        return self.path / appups_directory(release)

    def remove(self, release: Release) -> None:
        """Manifest first: a release without its manifest is already invisible."""
        (self.path / release.manifest_name).unlink(missing_ok=True)
        self.archive(release).unlink(missing_ok=True)
        _remove_tree(self._appups(release))

    def close(self) -> None:
        """A directory holds no connection."""


@contextmanager
def _written(directory: Path, name: str) -> Iterator[IO[bytes]]:
    """A new 0600 file at a random name in `directory` (`.<name>.<random>.part`, made
    exclusively: never a file or link that was there), renamed to `name` when the block ends
    without an error and removed otherwise."""
    descriptor, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            yield raw
        os.replace(temp, directory / name)
    finally:
        Path(temp).unlink(missing_ok=True)


def _remove_tree(directory: Path) -> None:
    """Remove `directory` and what it holds; a link in its place is removed, not followed."""
    if directory.is_symlink() or directory.is_file():
        directory.unlink()
    elif directory.exists():
        shutil.rmtree(directory)


def _read_at_most(path: Path, limit: int) -> bytes | Unreadable:
    """At most a little more than `limit` bytes (the gate refuses that), from a regular file
    only: a FIFO or a link to /dev/zero in the store must not hang or fill memory."""
    if not path.is_file():
        return Unreadable("not a regular file")
    try:
        with path.open("rb") as file:
            return file.read(limit + 1)
    except OSError as error:
        return Unreadable(error.strerror or type(error).__name__)


def _copy(source: Path, target: Writable, progress: Progress | None) -> None:
    with source.open("rb") as data:
        while chunk := data.read(CHUNK):
            target.write(chunk)
            if progress:
                progress(len(chunk))


class _HashingWriter:
    def __init__(self, raw: IO[bytes], digest: hashlib._Hash) -> None:
        self.raw, self.digest = raw, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)
