"""Where release archives live between build and deploy: a local folder for now.

Each archive `<app>_<version>.release.tar.gz` has a manifest `<app>_<version>.release.json`
beside it (app, version, commit, branch, tool, build time, sha256, size). An archive is only
visible once both files are complete: they are written under temporary names and renamed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deliver.errors import DeliverError, ReleaseNotFound
from deliver.release import Release, version_key
from deliver.remote import Writable


@dataclass(frozen=True)
class LocalStore:
    path: Path

    def releases(self, app: str, kind: str = "release") -> list[Release]:
        """Every complete release of `app` in the store, oldest version first."""
        if not self.path.is_dir():
            return []
        found = []
        for manifest in self.path.glob(f"{app}_*.{kind}.json"):
            release = Release.from_json(manifest.read_text())
            if self.archive(release).exists():
                found.append(release)
        return sorted(found, key=lambda r: (version_key(r.version), r.built_at))

    def find(self, app: str, version: str | None = None, kind: str = "release") -> Release:
        """The release with `version`, or the newest one; raises ReleaseNotFound."""
        releases = self.releases(app, kind)
        if not releases:
            raise ReleaseNotFound(
                f"the release store {self.path} holds no {kind} of {app}",
                hint="build one first: deliver build release",
            )
        if version is None:
            return releases[-1]
        for release in releases:
            if release.version == version:
                return release
        versions = ", ".join(r.version for r in releases)
        raise ReleaseNotFound(f"no {kind} {version} of {app} in {self.path} (it has {versions})")

    def archive(self, release: Release) -> Path:
        return self.path / release.archive_name

    def add(self, release: Release, write: Callable[[Writable], None]) -> Release:
        """Store an archive produced by `write(file)`; its sha256 must match the manifest's."""
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self.path / f".{release.archive_name}.part"
        digest = hashlib.sha256()
        with partial.open("wb") as raw:
            write(_HashingWriter(raw, digest))
        if digest.hexdigest() != release.sha256:
            partial.unlink()
            raise DeliverError(
                f"{release.archive_name} arrived corrupted: sha256 "
                f"{digest.hexdigest()} instead of {release.sha256}"
            )
        os.replace(partial, self.archive(release))
        manifest = self.path / f".{release.manifest_name}.part"
        manifest.write_text(release.to_json())
        os.replace(manifest, self.path / release.manifest_name)
        return release


class _HashingWriter:
    def __init__(self, raw: IO[bytes], digest: hashlib._Hash) -> None:
        self.raw, self.digest = raw, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)
