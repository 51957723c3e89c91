"""Which hosts restart together, and the availability line each schedule prints."""

from __future__ import annotations

import pytest

from deliver.commands.schedule import Rollout, Schedule, describe, split
from deliver.config import ALL_AT_ONCE, BatchSize, RolloutSettings
from deliver.errors import InvalidArgument


def sizes(settings: RolloutSettings, hosts: int) -> list[int]:
    return [len(batch) for batch in split(range(hosts), settings.batch_size(hosts))]


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (1, [1]),
        (2, [1, 1]),
        (3, [1, 1, 1]),
        (4, [1, 1, 1, 1]),
        (7, [1] * 7),
        (8, [2, 2, 2, 2]),
        (9, [2, 2, 2, 2, 1]),
        (12, [3, 3, 3, 3]),
        (100, [25, 25, 25, 25]),
    ],
)
def test_the_default_restarts_a_quarter_rounded_down_at_least_one(
    hosts: int, expected: list[int]
) -> None:
    assert sizes(RolloutSettings(), hosts) == expected


@pytest.mark.parametrize(
    ("batch", "hosts", "expected"),
    [
        (BatchSize(1), 3, [1, 1, 1]),
        (BatchSize(2), 5, [2, 2, 1]),
        (BatchSize(10), 2, [2]),
        (BatchSize(50, percent=True), 4, [2, 2]),
        (BatchSize(25, percent=True), 5, [2, 2, 1]),  # N% rounds up, unlike auto
        (BatchSize(1, percent=True), 3, [1, 1, 1]),
        (ALL_AT_ONCE, 3, [3]),
        (ALL_AT_ONCE, 1, [1]),
    ],
)
def test_a_batch_size_of_hosts_or_percent(
    batch: BatchSize, hosts: int, expected: list[int]
) -> None:
    assert sizes(RolloutSettings(batch), hosts) == expected


def test_batches_keep_the_environments_order() -> None:
    assert split(["web1", "web2", "web3"], 2) == [["web1", "web2"], ["web3"]]


CONFIGURED = RolloutSettings(BatchSize(2), wait=5.0, rollback_on_failure=True)


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        (Rollout(), CONFIGURED),
        (Rollout(BatchSize(1)), RolloutSettings(BatchSize(1), 5.0, True)),
        (Rollout(rollback_on_failure=False), RolloutSettings(BatchSize(2), 5.0, False)),
        (Rollout(all_at_once=True), RolloutSettings(ALL_AT_ONCE, 5.0, True)),
        (
            Rollout(all_at_once=True, rollback_on_failure=False),
            RolloutSettings(ALL_AT_ONCE, 5.0, False),
        ),
    ],
)
def test_a_runs_flags_win_over_the_settings_they_name(
    rollout: Rollout, expected: RolloutSettings
) -> None:
    assert rollout.settle(CONFIGURED) == expected


def test_batches_and_all_at_once_together_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="in batches or all at once, not both"):
        Rollout(BatchSize(1), all_at_once=True)


def schedule(hosts: int, batch: BatchSize | None = None, environment: int = 0) -> Schedule:
    names = [f"web{i}" for i in range(1, hosts + 1)]
    return Schedule.plan(names, RolloutSettings(batch), environment or hosts)


@pytest.mark.parametrize(
    ("plan", "up_before", "line"),
    [
        (schedule(3), {"web1", "web2", "web3"}, "At least 2 of 3 hosts served throughout"),
        (schedule(2), {"web1", "web2"}, "At least 1 of 2 hosts served throughout"),
        (schedule(8), set(), "No host served throughout: web1, web2, web3, web4, web5,"),
        (schedule(2), {"web1"}, "No host served throughout: web2 was not running before"),
        (schedule(2), {"web2"}, "At least 1 of 2 hosts served throughout"),
        # web3 was down: while web1 and web2 restart, only the other of them serves
        (schedule(3), {"web1", "web2"}, "At least 1 of 3 hosts served throughout"),
        (schedule(8), {f"web{i}" for i in range(1, 9)}, "At least 6 of 8 hosts served"),
        (
            schedule(3, ALL_AT_ONCE),
            {"web1", "web2", "web3"},
            "All 3 hosts restarted at once: none served during the restart",
        ),
        (
            schedule(1),
            {"web1"},
            "web1 was unavailable during the restart (one host: for zero downtime, hot-upgrade"
            " it with `deliver deploy upgrade`)",
        ),
        (
            schedule(1, environment=3),
            {"web1"},
            "web1 was unavailable during the restart; 2 other host(s) of the environment were "
            "not touched",
        ),
        (
            schedule(2, environment=3),
            {"web1", "web2"},
            "At least 1 of 2 hosts served throughout; 1 other host(s) of the environment",
        ),
    ],
)
def test_the_last_line_says_what_availability_held(
    plan: Schedule, up_before: set[str], line: str
) -> None:
    assert plan.held(up_before).startswith(line)


@pytest.mark.parametrize(
    ("plan", "header"),
    [
        (schedule(3), "Restarting hello on 3 hosts, 1 at a time: 3 batches, each healthy"),
        (schedule(1), "Restarting hello on web1 in place: it is unavailable until it is back up"),
        (schedule(2, ALL_AT_ONCE), "Restarting hello on all 2 hosts at once: web1, web2"),
        (
            Schedule.plan(["a", "b"], RolloutSettings(wait=2.5), 2),
            "Restarting hello on 2 hosts, 1 at a time: 2 batches, each healthy before the next, "
            "2.5s apart",
        ),
    ],
)
def test_the_first_line_says_what_restarts_how(plan: Schedule, header: str) -> None:
    assert plan.header("Restarting hello").startswith(header)


def test_batch_lines_show_progress() -> None:
    plan = schedule(5, BatchSize(2))
    assert plan.batch_line(1) == "batch 1/3: web1, web2 ..."
    assert plan.batch_line(3, "healthy") == "batch 3/3: web5 ... healthy"


@pytest.mark.parametrize(
    ("settings", "hosts", "text"),
    [
        (RolloutSettings(), 8, "2 of 8 host(s) at a time (batch: auto), rollback on failure on"),
        (
            RolloutSettings(BatchSize(25, percent=True), 3.0, False),
            5,
            "2 of 5 host(s) at a time (batch: 25%), 3s apart, rollback on failure off",
        ),
        (RolloutSettings(BatchSize(4)), 2, "2 of 2 host(s) at a time (batch: 4)"),
    ],
)
def test_check_config_describes_the_rollout(
    settings: RolloutSettings, hosts: int, text: str
) -> None:
    assert describe(settings, hosts).startswith(text)
