"""Which hosts of a rollout restart together, and what that means for the hosts serving.

The environment's `rollout:` settings (config/rollout.py) give the default: batches of a
quarter of the hosts rounded down, at least one, each healthy before the next. A run can ask
for its own batch size, for all hosts at once, or for or against rolling back a failed batch
(`Rollout`, from the command line's --batch, --all-at-once, --[no-]rollback-on-failure).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from typing import TypeVar

from deliver.config import ALL_AT_ONCE, BatchSize, RolloutSettings
from deliver.errors import InvalidArgument

T = TypeVar("T")

ONE_HOST_HINT = "one host: for zero downtime, hot-upgrade it with `deliver deploy upgrade`"


@dataclass(frozen=True)
class Rollout:
    """What one run asks for over the environment's `rollout:`; None keeps the setting."""

    batch: BatchSize | None = None
    rollback_on_failure: bool | None = None
    #: every host in one batch, as before batches were the default (e.g. for a migration
    #: the old code cannot run with)
    all_at_once: bool = False

    def __post_init__(self) -> None:
        if self.all_at_once and self.batch is not None:
            raise InvalidArgument("batch", "a rollout goes in batches or all at once, not both")

    def settle(self, settings: RolloutSettings) -> RolloutSettings:
        """The settings this run goes by."""
        batch = ALL_AT_ONCE if self.all_at_once else self.batch or settings.batch
        rollback = self.rollback_on_failure
        return replace(
            settings,
            batch=batch,
            rollback_on_failure=settings.rollback_on_failure if rollback is None else rollback,
        )


def split(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in order, `size` at a time (the last batch may be smaller)."""
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


@dataclass(frozen=True)
class Schedule:
    """The batches of one rollout over `hosts` (names, in the environment's order)."""

    batches: tuple[tuple[str, ...], ...]
    settings: RolloutSettings
    #: hosts of the environment the run leaves alone (--host)
    untouched: int = 0

    @classmethod
    def plan(
        cls, hosts: Sequence[str], settings: RolloutSettings, environment_hosts: int
    ) -> Schedule:
        size = settings.batch_size(len(hosts))
        batches = tuple(tuple(batch) for batch in split(hosts, size))
        return cls(batches, settings, max(0, environment_hosts - len(hosts)))

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(name for batch in self.batches for name in batch)

    def header(self, action: str) -> str:
        """The step line before the first batch: what restarts how."""
        count, size = len(self.hosts), max(map(len, self.batches), default=0)
        if count == 1:
            text = f"{action} on {self.hosts[0]} in place: it is unavailable until it is back up"
        elif len(self.batches) == 1:
            text = f"{action} on all {count} hosts at once: {', '.join(self.hosts)}"
        else:
            text = (
                f"{action} on {count} hosts, {size} at a time: {len(self.batches)} batches, "
                "each healthy before the next"
            )
            if self.settings.wait:
                text += f", {self.settings.wait:g}s apart"
        return text

    def batch_line(self, number: int, outcome: str = "") -> str:
        """`batch 1/3: web1 ...`, then with `outcome` (healthy, failed) once it is known."""
        names = ", ".join(self.batches[number - 1])
        return f"batch {number}/{len(self.batches)}: {names} ...{' ' + outcome if outcome else ''}"

    def least_serving(self, up_before: Set[str]) -> int:
        """The fewest hosts serving while any one batch restarted: the batches before it
        (healthy by then) and the later hosts that were up."""
        counts = [
            sum(map(len, self.batches[:index]))
            + sum(1 for later in self.batches[index + 1 :] for name in later if name in up_before)
            for index in range(len(self.batches))
        ]
        return min(counts, default=0)

    def held(self, up_before: Set[str]) -> str:
        """The final line: the availability that held, once every batch was healthy.
        `up_before`: the hosts whose node was up when its batch began."""
        count = len(self.hosts)
        if count == 1:
            text = f"{self.hosts[0]} was unavailable during the restart"
            if not self.untouched:
                text += f" ({ONE_HOST_HINT})"
        elif len(self.batches) == 1:
            text = f"All {count} hosts restarted at once: none served during the restart"
        elif least := self.least_serving(up_before):
            text = f"At least {least} of {count} hosts served throughout"
        else:
            down = [name for name in self.hosts if name not in up_before]
            were = "was" if len(down) == 1 else "were"
            text = f"No host served throughout: {', '.join(down)} {were} not running before"
        if self.untouched:
            text += f"; {self.untouched} other host(s) of the environment were not touched"
        return text


def describe(settings: RolloutSettings, hosts: int) -> str:
    """`check config`'s line: `2 of 8 hosts at a time (batch: auto), ...`."""
    batch = settings.batch
    written = "auto" if batch is None else f"{batch.size}{'%' if batch.percent else ''}"
    size = min(settings.batch_size(hosts), hosts)
    text = f"{size} of {hosts} host(s) at a time (batch: {written})"
    if settings.wait:
        text += f", {settings.wait:g}s apart"
    return text + f", rollback on failure {'on' if settings.rollback_on_failure else 'off'}"
