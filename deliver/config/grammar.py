"""The grammars a config is checked against that the rest of deliver shares too: the hook
points (edeliver's names and their short aliases) and the --auto-version parts. (The version
grammar itself is the release's: deliver/release.py.)"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from deliver.shell import quote

# hook points --------------------------------------------------------------------------------------

#: Each base point, its alias, and where its hooks run by default.
BASE_POINTS = {
    "init_app_remotely": ("init", "build"),
    "git_push": ("push", "build"),
    "erlang_get_and_update_deps": ("deps", "build"),
    "erlang_clean_compile": ("compile", "build"),
    "erlang_generate_release": ("release", "build"),
    "extract_release_archive": ("extract", "deploy"),
    "start_deployed_release": ("start", "deploy"),
    "upgrade_release": ("upgrade", "deploy"),
}

POINTS = tuple(f"{when}_{base}" for base in BASE_POINTS for when in ("pre", "post"))

RUNS_ON = ("build", "deploy", "local")


def example_hook(name: str) -> Path | None:
    """deliver's example hook `name` (copy_secret_file, ...), shipped as package data in
    deliver/example_hooks/ (the repository's hooks/ links there); None when there is none."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = Path(str(files("deliver") / "example_hooks" / name))
    return path if path.is_file() else None


def copy_example_hint(script: Path) -> str | None:
    """For a missing hook script named after one of deliver's examples (as in
    .deliver.example): the command that copies it there."""
    example = example_hook(script.name)
    if example is None:
        return None
    return (
        f"it is one of deliver's example hooks: mkdir -p {quote(str(script.parent))} && "
        f"cp {quote(str(example))} {quote(str(script))}"
    )


def canonical_point(name: str) -> str | None:
    """`pre_compile` -> `pre_erlang_clean_compile`; None for a name that is no hook point."""
    when, _, base = name.partition("_")
    if when not in ("pre", "post"):
        return None
    aliases = {alias: full for full, (alias, _) in BASE_POINTS.items()}
    base = aliases.get(base, base)
    return f"{when}_{base}" if base in BASE_POINTS else None


def default_runs_on(point: str) -> str:
    return BASE_POINTS[point.partition("_")[2]][1]


def point_names(point: str) -> tuple[str, str]:
    """The full name and the alias of a point: the names a hook file may have."""
    when, _, base = point.partition("_")
    return point, f"{when}_{BASE_POINTS[base][0]}"


# versions -----------------------------------------------------------------------------------------

#: --auto-version parts, and the edeliver spellings that mean the same.
AUTO_PARTS = (
    "revision",
    "commit-count",
    "commit-count-branch",
    "branch",
    "branch-unless-main",
    "date",
    "time",
)

_ALIASES = {
    "git-revision": "revision",
    "git-commit-count": "commit-count",
    "commit-count-all": "commit-count",
    "commit-count-all-branches": "commit-count",
    "git-commit-count-branch": "commit-count-branch",
    "git-branch": "branch",
    "branch-unless-master": "branch-unless-main",
    "git-branch-unless-master": "branch-unless-main",
    "git-branch-unless-main": "branch-unless-main",
    "build-date": "date",
    "build-time": "time",
}

INCREMENTS = ("major", "minor", "patch")


def parse_auto_version(text: str) -> tuple[str, ...]:
    """`commit-count+git-revision` -> ("commit-count", "revision"); ValueError if unknown."""
    parts = []
    for raw in text.split("+"):
        part = _ALIASES.get(raw.strip(), raw.strip())
        if part not in AUTO_PARTS:
            raise ValueError(
                f"unknown part {raw.strip()!r} (expected {', '.join(AUTO_PARTS)}, joined by +)"
            )
        parts.append(part)
    return tuple(parts)
