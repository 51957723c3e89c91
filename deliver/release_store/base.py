"""What every kind of release store shares: reading the manifests a listing found (each through
the Release gate, refused ones reported by file name and skipped), and finding a release among
the stored ones."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from deliver.errors import ManifestInvalid, ReleaseNotFound, shown
from deliver.release import Release, manifest_name, version_key
from deliver.transport.remote import OutputSink

log = logging.getLogger(__name__)
# without a sink, warnings go to the application's logging if it has any, else nowhere: not
# to stderr through logging's last resort, in the middle of a shell completion, say
log.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Unreadable:
    """A listed manifest that could not be read (not a regular file, no permission)."""

    reason: str


@dataclass(frozen=True)
class Listing:
    """A store's manifests of one app and kind: the releases they describe, oldest version
    first, and each manifest refused (file name -> why)."""

    location: str
    releases: list[Release]
    refused: dict[str, ManifestInvalid] = field(default_factory=dict)

    def usable(self, sink: OutputSink | None, but: str | None = None) -> list[Release]:
        """The releases, after a warning for each refused manifest (but the one named `but`,
        which the caller reports itself): one bad manifest does not hide the others."""
        for name, error in self.refused.items():
            if name != but:
                warn(sink, f"skipping {error}")
        return self.releases


def read_listing(
    manifests: Iterable[tuple[str, str | bytes | Unreadable]], location: str, app: str, kind: str
) -> Listing:
    """Read each `(file name, content)` a store listed for `app` and `kind`; what the file
    name says (`<app>_<version>.<kind>.json`) must be what the manifest says."""
    found: list[Release] = []
    refused: dict[str, ManifestInvalid] = {}
    for name, text in manifests:
        try:
            release = read_manifest(text, name, location)
        except ManifestInvalid as error:
            refused[name] = error
            continue
        # `hello_*` also lists the files of an app named hello_admin: theirs, and valid
        if release.app == app and release.kind == kind:
            found.append(release)
    return Listing(location, by_version(found), refused)


def read_manifest(text: str | bytes | Unreadable, name: str, location: str) -> Release:
    """A manifest file's Release; ManifestInvalid names the file and the field that failed."""
    source = f"{location}/{printable(name)}"
    if isinstance(text, Unreadable):
        raise ManifestInvalid("manifest", f"cannot be read: {text.reason}", source)
    try:
        release = Release.from_json(text)
    except ManifestInvalid as error:
        raise error.read_from(source) from None
    if name != release.manifest_name:
        raise ManifestInvalid(*_name_mismatch(release, name), source)
    return release


def by_version(releases: Iterable[Release]) -> list[Release]:
    """Oldest version first, as `show releases` lists them; the newest is the last. Versions
    that sort alike (0.1.0 and 0.01.0) are ordered by when they were built, then by text."""
    return sorted(releases, key=lambda r: (version_key(r.version), r.built_at, r.version))


def find_release(
    listing: Listing,
    app: str,
    version: str | None,
    kind: str,
    sink: OutputSink | None = None,
) -> Release:
    """The release with `version`, or the newest one; raises ReleaseNotFound, or the
    manifest's ManifestInvalid when the one asked for was refused."""
    wanted = manifest_name(app, version, kind) if version is not None else None
    releases = listing.usable(sink, but=wanted)
    if wanted in listing.refused:
        raise listing.refused[wanted]
    if not releases:
        raise ReleaseNotFound(
            f"the release store {listing.location} holds no {kind} of {app}",
            hint="build one first: deliver build "
            + ("upgrade --from=REF" if kind == "upgrade" else "release"),
        )
    if version is None:
        return releases[-1]
    for release in releases:
        if release.version == version:
            return release
    versions = ", ".join(r.version for r in releases)
    raise ReleaseNotFound(f"no {kind} {version} of {app} in {listing.location} (it has {versions})")


def warn(sink: OutputSink | None, text: str) -> None:
    if sink is not None:
        sink.warning(text)
    else:  # a library user without an output: through logging (see the NullHandler above)
        log.warning("%s", text)


def printable(name: str) -> str:
    """A file name a store listed, safe to print: as it is, or escaped (repr) when it holds
    whitespace, control characters or terminal escapes."""
    return name if name.isprintable() and " " not in name else shown(name, limit=120)


def _name_mismatch(release: Release, name: str) -> tuple[str, str]:
    expected = release.manifest_name
    if not name.endswith(f".{release.kind}.json"):
        field_name, value = "kind", release.kind
    elif not name.startswith(f"{release.app}_"):
        field_name, value = "app", release.app
    else:
        field_name, value = "version", release.version
    return field_name, f"{shown(value)} is not what the file name says (it would be {expected})"
