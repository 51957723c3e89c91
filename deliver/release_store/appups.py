"""The appups an upgrade was built with, stored as files beside its archive so they can be
reviewed and committed: `<app>_<version>.upgrade.tar.gz.appups/<app>/<old>-<new>.appup`, one
per application and old version (the application's versions, as in the project's
`rel/appups/<app>/<old>-<new>.appup` overrides, which they can be copied to as they are).

Whoever can write to a store controls these files too, and `show appup` prints them and
`--write-to` writes them into the project: every name and text a store lists passes
`read_appups` (the application and version grammars, a size limit, printable text); a refused
file is reported by name and skipped, like a refused manifest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from deliver.release import Release, version_problem
from deliver.release_store.base import Unreadable, printable, warn
from deliver.transport.remote import OutputSink

#: Beside the archive `<name>`: the directory (or key prefix) `<name>.appups/`.
APPUPS_SUFFIX = ".appups"
#: An appup is a few kilobytes even for a large application: more is not one.
MAX_APPUP_BYTES = 256 * 1024

_NAME = re.compile(r"\A([a-z][a-z0-9_]{0,63})/([^/]+)\.appup\Z")
#: the new version an appup's term begins with, after its comment lines
_BEGINS = re.compile(r'\A(?:\s*%[^\n]*\n)*\s*\{\s*"([^"]*)"')
#: what an appup's text may hold: printable text and line breaks (it reaches a terminal)
_TEXT = re.compile(r"\A[^\x00-\x08\x0b-\x1f\x7f\x9b]*\Z")


@dataclass(frozen=True)
class StoredAppup:
    """One application's appup from one old version, as stored beside the upgrade."""

    app: str
    old: str
    new: str
    text: str

    @property
    def name(self) -> str:
        """Its name under the appups directory, and under the project's rel/appups."""
        return f"{self.app}/{self.old}-{self.new}.appup"


def appups_directory(release: Release) -> str:
    """The name of the directory (or key prefix) beside `release`'s archive."""
    return release.archive_name + APPUPS_SUFFIX


def appup_files(appups: Iterable[StoredAppup]) -> dict[str, bytes]:
    """Name -> content, for a store to write."""
    return {appup.name: appup.text.encode() for appup in appups}


def parse_name(name: str, text: str = "") -> tuple[str, str, str] | None:
    """(app, old, new) of `<app>/<old>-<new>.appup`, or None when it is not such a name.
    Versions may hold "-" themselves: of the splits into two versions, the one whose new
    version the appup's `text` begins with (`{"<new>",`), else the first."""
    match = _NAME.match(name)
    if match is None:
        return None
    app, pair = match[1], match[2]
    splits = [
        (pair[:at], pair[at + 1 :])
        for at, char in enumerate(pair)
        if char == "-"
        and version_problem(pair[:at]) is None
        and version_problem(pair[at + 1 :]) is None
    ]
    if not splits:
        return None
    begins = _BEGINS.search(text)
    old, new = next((s for s in splits if begins and begins[1] == s[1]), splits[0])
    return app, old, new


def read_appups(
    files: Iterable[tuple[str, str | bytes | Unreadable]],
    release: Release,
    location: str,
    sink: OutputSink | None,
) -> list[StoredAppup]:
    """The stored appups of `release` among the `(name, content)` a store listed (names
    relative to its appups directory), sorted by name; each refused file is reported to `sink`
    by name, with why, and skipped."""
    found = []
    directory = f"{location}/{appups_directory(release)}"
    for name, content in files:
        appup = _checked(name, content, release)
        if isinstance(appup, str):
            warn(sink, f"skipping {directory}/{printable(name)}: {appup}")
        else:
            found.append(appup)
    return sorted(found, key=lambda appup: appup.name)


def _checked(name: str, content: str | bytes | Unreadable, release: Release) -> StoredAppup | str:
    """The appup, or why the file is refused."""
    if parse_name(name) is None:
        return "not <app>/<old>-<new>.appup"
    if isinstance(content, Unreadable):
        return f"cannot be read: {content.reason}"
    if len(content.encode() if isinstance(content, str) else content) > MAX_APPUP_BYTES:
        return f"larger than {MAX_APPUP_BYTES // 1024} KiB: not an appup"
    try:
        text = content if isinstance(content, str) else content.decode()
    except UnicodeDecodeError:
        return "not UTF-8 text"
    if not _TEXT.match(text):
        return "holds control characters: not an appup deliver wrote"
    app, old, new = parse_name(name, text) or ("", "", "")
    if release.appups and app not in release.appups:
        return f"the upgrade has no appup of {app} (it has {', '.join(release.appups)})"
    return StoredAppup(app, old, new, text)


def check_names(files: Mapping[str, bytes]) -> None:
    """Refuse to store a file whose name is not `<app>/<old>-<new>.appup` (it becomes a path
    in the store): a bug, never the user's input."""
    for name in files:
        if parse_name(name) is None:
            raise ValueError(f"not an appup file name: {name!r}")
