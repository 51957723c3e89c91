"""The version a build gets: --set-version, --increment-version, --auto-version.

The starting point is the project's own version, read from the commit being built (e.g.
`version: "1.2.3"` in mix.exs). --set-version replaces it, --increment-version bumps it, and
--auto-version appends edeliver-style metadata from git and the clock, joined by `+`:

    --auto-version=commit-count+revision+branch   ->   1.2.3+42-82a5834-main

The user's sources in git are never edited: the new version is written into the build tree on
the build host after it was reset to the commit (and the next reset undoes it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deliver.errors import InvalidArgument, UsageError

if TYPE_CHECKING:
    from deliver.tools import VersionSource

MAIN_BRANCHES = ("main", "master")

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


@dataclass(frozen=True)
class VersionOptions:
    auto: tuple[str, ...] = ()
    increment: str | None = None
    set_to: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.auto or self.increment or self.set_to)


@dataclass(frozen=True)
class VersionPlan:
    """`version`: what the build will be (None: unknown until the tool has built it);
    `patches`: files of the build tree to rewrite (path -> content) to get it."""

    version: str | None
    patches: dict[str, str]
    enforced: bool


def plan_version(
    repo_dir: Path,
    commit: str,
    branch: str | None,
    sources: Sequence[VersionSource],
    options: VersionOptions,
    clock: datetime | None = None,
) -> VersionPlan:
    """The version this build gets and the build-tree edits that give it to the tool.

    Raises UsageError when a version option needs the project's version and none is found.
    """
    found = _read_version(repo_dir, commit, sources)
    if not options.any:
        return VersionPlan(found.version if found else None, {}, enforced=False)
    if found is None and not options.set_to:
        files = ", ".join(sorted({s.path for s in sources})) or "none for this tool"
        raise UsageError(
            f"cannot find the project's version at {commit[:10]} (looked in: {files})",
            hint='write it as a literal, e.g. version: "1.2.3" in mix.exs, or use --set-version',
        )
    version = options.set_to or (found.version if found else "")
    if options.increment:
        version = increment(version, options.increment)
    parts = [
        _auto_part(part, repo_dir, commit, branch, clock or datetime.now(UTC))
        for part in options.auto
    ]
    metadata = "-".join(part for part in parts if part)
    if metadata:
        version += ("-" if "+" in version else "+") + metadata
    patches = {}
    if found is not None and found.version != version:
        patches[found.path] = found.replaced(version)
    return VersionPlan(version, patches, enforced=True)


def increment(version: str, part: str) -> str:
    """1.2.3 -> 2.0.0 / 1.3.0 / 1.2.4 (pre-release and build metadata are dropped)."""
    match = _SEMVER.match(version)
    if not match:
        raise InvalidArgument("increment_version", f"{version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(n) for n in match.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@dataclass(frozen=True)
class _Found:
    path: str
    content: str
    match: re.Match[str]

    @property
    def version(self) -> str:
        return self.match.group(1)

    def replaced(self, version: str) -> str:
        return self.content[: self.match.start(1)] + version + self.content[self.match.end(1) :]


def _read_version(repo_dir: Path, commit: str, sources: Sequence[VersionSource]) -> _Found | None:
    """The version from the first source that matches at `commit`."""
    import git

    tree = git.Repo(repo_dir, search_parent_directories=True).commit(commit).tree
    for source in sources:
        try:
            content = (tree / source.path).data_stream.read().decode()
        except (KeyError, UnicodeDecodeError):
            continue
        match = re.search(source.pattern, content)
        if match:
            return _Found(source.path, content, match)
    return None


def _auto_part(part: str, repo_dir: Path, commit: str, branch: str | None, clock: datetime) -> str:
    import git

    repo = git.Repo(repo_dir, search_parent_directories=True)
    if part == "revision":
        return commit[:7]
    if part == "commit-count":
        return str(repo.git.rev_list("--count", "--all"))
    if part == "commit-count-branch":
        return str(repo.git.rev_list("--count", commit))
    if part == "date":
        return clock.strftime("%Y%m%d")
    if part == "time":
        return clock.strftime("%H%M%S")
    if branch is None:
        raise InvalidArgument(
            "auto_version",
            "no branch to name (building a detached revision)",
            part,
            hint="give --branch, or leave the branch out of --auto-version",
        )
    if part == "branch-unless-main" and branch in MAIN_BRANCHES:
        return ""
    # semver build metadata allows [0-9A-Za-z-] only: feature/x -> feature-x
    return re.sub(r"[^0-9A-Za-z-]+", "-", branch).strip("-")
