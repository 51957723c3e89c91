"""Options and arguments shared by several commands, and turning command-line text into the
library's values: the core never parses command-line text."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from deliver.config.grammar import INCREMENTS, parse_auto_version
from deliver.config.model import VERSION
from deliver.errors import DeliverError, InvalidArgument, UsageError

if TYPE_CHECKING:
    from deliver.build.tree import BuildOptions
    from deliver.build.versions import VersionOptions
    from deliver.commands.schedule import Rollout
    from deliver.config import BatchSize, Config

#: The library's name of an argument -> its flag, and how a value follows the flag in messages.
FLAGS = {
    "host": ("--host", " "),
    "version": ("--version", "="),
    "with_version": ("--with", "="),
    "keep": ("--keep", "="),
    "batch": ("--batch", "="),
    "auto_version": ("--auto-version", "="),
    "increment_version": ("--increment-version", "="),
    "since": ("--since", "="),
    "grep": ("--grep", "="),
    "lines": ("-n", " "),
}


def flag_message(error: DeliverError) -> str:
    """The error's line as the person at the terminal knows the argument: by its flag."""
    if not isinstance(error, InvalidArgument) or error.argument not in FLAGS:
        return str(error)
    flag, joiner = FLAGS[error.argument]
    subject = flag if error.value is None else f"{flag}{joiner}{error.value}"
    return f"{subject}: {error.problem}"


@contextmanager
def positional(argument: str, name: str) -> Iterator[None]:
    """In a command that takes `argument` as the positional NAME rather than as a flag, its
    errors name NAME (`VERSION v0.2.0: ...`), not the flag other commands use."""
    try:
        yield
    except InvalidArgument as error:
        if error.argument != argument:
            raise
        raise InvalidArgument(name, error.problem, error.value, error.hint) from None


def split_hosts(hosts: Sequence[str]) -> list[str]:
    """`--host a,b --host c` -> [a, b, c]."""
    return [name.strip() for item in hosts for name in item.split(",") if name.strip()]


def host_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--host",
        "hosts",
        multiple=True,
        metavar="HOST",
        help="Only this host (repeatable, or comma-separated).",
        callback=lambda _context, _option, value: tuple(split_hosts(value)),
    )(function)


def rollout_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--batch, --all-at-once and --[no-]rollback-on-failure: over `rollout:` in .deliver."""
    function = click.option(
        "--rollback-on-failure/--no-rollback-on-failure",
        default=None,
        help="Switch a batch that fails to start or its health check back, and restart it "
        "(default: rollout.rollback_on_failure, on).",
    )(function)
    function = click.option(
        "--all-at-once",
        is_flag=True,
        help="Restart every host at the same time (downtime), e.g. when a migration makes "
        "the old and the new code incompatible.",
    )(function)
    return click.option(
        "--batch",
        metavar="N|N%",
        help="Restart N hosts (or N% of them) at a time, each batch healthy before the next "
        "(default: rollout.batch, a quarter of the hosts, at least 1).",
    )(function)


def rollout_from(
    batch: str | None,
    rollback_on_failure: bool | None,
    all_at_once: bool = False,
    start: bool = True,
) -> Rollout | None:
    """The rollout flags; None when none was given (the environment's `rollout:` then
    decides). They mean something only where nodes restart."""
    from deliver.commands.schedule import Rollout

    if batch is None and rollback_on_failure is None and not all_at_once:
        return None
    if batch is not None and all_at_once:
        raise UsageError("give only one of --batch and --all-at-once")
    if not start:
        flags = "--all-at-once needs" if all_at_once else "--batch and --rollback-on-failure need"
        raise UsageError(f"{flags} --start-deploy")
    return Rollout(None if batch is None else parse_batch(batch), rollback_on_failure, all_at_once)


def parse_batch(text: str) -> BatchSize:
    """`--batch=N` hosts at a time, or `--batch=N%` of the hosts (at least one)."""
    from deliver.config.rollout import parse_batch_size

    try:
        return parse_batch_size(text)
    except ValueError:
        raise UsageError(
            f"--batch: expected a number of hosts or a percentage like 25%, got {text!r}"
        ) from None


def parse_versions(
    auto: str | None, increment: str | None = None, set_to: str | None = None
) -> VersionOptions:
    """--auto-version, --increment-version and --set-version; UsageError for bad values."""
    from deliver.build.versions import VersionOptions

    if increment and set_to:
        raise UsageError("give only one of --increment-version and --set-version")
    if increment and increment not in INCREMENTS:
        raise UsageError(
            f"--increment-version: expected one of {', '.join(INCREMENTS)}, got {increment!r}"
        )
    if set_to and not VERSION.match(set_to):
        raise UsageError(f"--set-version: {set_to!r} is not a usable version (e.g. 1.2.3)")
    try:
        parts = parse_auto_version(auto) if auto else ()
    except ValueError as error:
        raise UsageError(f"--auto-version: {error}") from None
    return VersionOptions(parts, increment, set_to)


def one_revision(revision: str | None, tag: str | None) -> None:
    if revision and tag:
        raise UsageError("give only one of --revision and --tag")


def environment_name(words: Sequence[str], config: Config, required: bool) -> str:
    """edeliver's `[to] <env>`; without one, staging (or the only environment there is)."""
    words = [w for w in words if w != "to"] if words and words[0] == "to" else list(words)
    if len(words) > 1:
        raise UsageError(f"expected one environment, got: {' '.join(words)}")
    if words:
        return words[0]
    names = list(config.environments)
    if required:
        raise UsageError(
            "name the environment, e.g. `to production`",
            hint=f"configured: {', '.join(names) or 'none'}",
        )
    if "staging" in names or len(names) != 1:
        return "staging"
    return names[0]


def build_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The version and build-tree flags of `build release` (and of `update`, which builds)."""
    options = [
        click.option(
            "--auto-version",
            metavar="PARTS",
            help="Append to the version, joined by +: revision, commit-count, "
            "commit-count-branch, branch, branch-unless-main, date, time "
            "(default: build.auto_version).",
        ),
        click.option(
            "--increment-version",
            type=click.Choice(["major", "minor", "patch"]),
            help="Build the project's version with this part incremented.",
        ),
        click.option("--set-version", metavar="VERSION", help="Build with this version."),
        click.option("--clean", is_flag=True, help="Full rebuild: remove deps and _build first."),
        click.option(
            "--skip-git-clean", is_flag=True, help="Keep untracked files in the build tree."
        ),
        click.option(
            "--skip-mix-clean", is_flag=True, help="Keep build.clean_paths (the last release)."
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Rebuild a stored build of this commit, or replace another build of its version.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_options_from(
    auto_version: str | None,
    increment_version: str | None,
    set_version: str | None,
    clean: bool,
    skip_git_clean: bool,
    skip_mix_clean: bool,
    force: bool,
) -> BuildOptions:
    from deliver.build.tree import BuildOptions

    if clean and skip_git_clean:
        raise UsageError("--clean and --skip-git-clean contradict each other")
    return BuildOptions(
        clean=clean,
        git_clean=not skip_git_clean,
        remove_generated=not skip_mix_clean,
        force=force,
        versions=parse_versions(auto_version, increment_version, set_version),
    )
