"""What every kind of release store shares: finding a release among the stored ones, and reading
manifests back."""

from __future__ import annotations

from collections.abc import Iterable

from deliver.errors import ManifestInvalid, ReleaseNotFound
from deliver.release import Release, version_key


def by_version(releases: Iterable[Release]) -> list[Release]:
    """Oldest version first, as `show releases` lists them; the newest is the last. Versions
    that sort alike (0.1.0 and 0.01.0) are ordered by when they were built, then by text."""
    return sorted(releases, key=lambda r: (version_key(r.version), r.built_at, r.version))


def read_manifest(text: str, name: str, location: str) -> Release:
    """A manifest file's Release; ManifestInvalid names the file and the field that failed."""
    try:
        return Release.from_json(text)
    except ManifestInvalid as error:
        raise error.read_from(f"{location}/{name}") from None


def matching(releases: Iterable[Release], app: str, kind: str) -> list[Release]:
    """Only `app`'s releases: `hello_*` also matches the files of an app named hello_admin."""
    return by_version(r for r in releases if r.app == app and r.kind == kind)


def find_release(
    releases: list[Release], location: str, app: str, version: str | None, kind: str
) -> Release:
    """The release with `version`, or the newest one; raises ReleaseNotFound."""
    if not releases:
        raise ReleaseNotFound(
            f"the release store {location} holds no {kind} of {app}",
            hint="build one first: deliver build release",
        )
    if version is None:
        return releases[-1]
    for release in releases:
        if release.version == version:
            return release
    versions = ", ".join(r.version for r in releases)
    raise ReleaseNotFound(f"no {kind} {version} of {app} in {location} (it has {versions})")
