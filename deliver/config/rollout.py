"""`rollout:` of the .deliver file, globally and per environment: how the commands that
restart nodes go through an environment's hosts (batch size, wait, rollback on failure).

    rollout: {batch: auto, wait: 0, rollback_on_failure: true}     # the defaults
    environments: {production: {rollout: {batch: 25%}}}            # over the global, key by key
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from deliver.config.model import BatchSize, RolloutSettings
from deliver.config.values import Key, ValueReader, kind

_BATCH = re.compile(r"\s*(\d+)\s*(%?)\s*")

ROLLOUT_KEYS = {"batch", "wait", "rollback_on_failure"}


def parse_batch_size(text: str) -> BatchSize:
    """`3` hosts at a time or `25%` of them; ValueError for anything else (0, 101%, 2.5).

    Shared by `rollout.batch` here and `--batch` (cli/options.py)."""
    match = _BATCH.fullmatch(text)
    if not match or int(match[1]) < 1 or (match[2] and int(match[1]) > 100):
        raise ValueError(text)
    return BatchSize(int(match[1]), bool(match[2]))


class RolloutReader(ValueReader):
    """The rollout part of the reader."""

    def rollout(self, value: Any, key: Key, base: RolloutSettings) -> RolloutSettings:
        """The keys set in `value` over `base`: an environment's section changes only the keys
        it names, the others come from the global section (or the defaults)."""
        data = self.mapping(value, key)
        self.reject_unknown(data, key, ROLLOUT_KEYS)
        changes: dict[str, Any] = {}
        if "batch" in data:
            changes["batch"] = self.batch(data["batch"], (*key, "batch"))
        if "wait" in data:
            changes["wait"] = self.seconds(data["wait"], (*key, "wait"))
        if "rollback_on_failure" in data:
            changes["rollback_on_failure"] = self.boolean(
                data["rollback_on_failure"], (*key, "rollback_on_failure")
            )
        return replace(base, **changes)

    def batch(self, value: Any, key: Key) -> BatchSize | None:
        """`auto` (None), a number of hosts, or a percentage of them."""
        if value == "auto":
            return None
        if isinstance(value, int | str) and not isinstance(value, bool):
            try:
                return parse_batch_size(str(value))
            except ValueError:
                pass
        raise self.fail(
            key, f"expected auto, a number of hosts (2) or a percentage (25%), got {kind(value)}"
        )

    def seconds(self, value: Any, key: Key) -> float:
        """0 or more seconds (number() wants more than 0)."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise self.fail(key, f"expected a number of seconds (0 or more), got {kind(value)}")
