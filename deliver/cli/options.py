"""Options and arguments shared by several commands, and turning command-line text into the
library's values: the core never parses command-line text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from deliver.errors import UsageError

if TYPE_CHECKING:
    from deliver.commands.rollout import Rollout
    from deliver.config import Config


def host_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--host",
        "hosts",
        multiple=True,
        metavar="HOST",
        help="Only this host (repeatable, or comma-separated).",
    )(function)


def rollout_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--rollback-on-failure",
        is_flag=True,
        help="Switch a batch that fails to start or its health check back, and restart it.",
    )(function)
    return click.option(
        "--batch",
        metavar="N|N%",
        help="Restart N hosts (or N% of them) at a time, each batch healthy before the next.",
    )(function)


def rollout_from(batch: str | None, rollback_on_failure: bool) -> Rollout | None:
    from deliver.commands.rollout import BatchSize, Rollout

    if batch is None and not rollback_on_failure:
        return None
    return Rollout(None if batch is None else BatchSize.parse(batch), rollback_on_failure)


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
