"""A release store in a local directory: build fetches archives into it over the build host's
connection, deploy uploads them from it over each host's connection."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deliver.errors import StoreError
from deliver.release import Release
from deliver.release_store.base import find_release, matching, read_manifest
from deliver.transport.remote import CHUNK, Progress, Remote, Writable


@dataclass(frozen=True)
class LocalStore:
    path: Path
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
        """Every complete release of `app` in the store, oldest version first."""
        if not self.path.is_dir():
            return []
        found = []
        for manifest in self.path.glob(f"{app}_*.{kind}.json"):
            release = read_manifest(manifest.read_text(), manifest.name, self.location)
            if self.archive(release).exists():
                found.append(release)
        return matching(found, app, kind)

    def find(self, app: str, version: str | None = None, kind: str = "release") -> Release:
        """The release with `version`, or the newest one; raises ReleaseNotFound."""
        return find_release(self.releases(app, kind), self.location, app, version, kind)

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

    def remove(self, release: Release) -> None:
        """Manifest first: a release without its manifest is already invisible."""
        (self.path / release.manifest_name).unlink(missing_ok=True)
        self.archive(release).unlink(missing_ok=True)

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
