"""Choosing the rollback target and what to prune from a host's releases and history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deliver.host.layout import Event, HostReleases


def host(
    present: str, history: str, current: str | None, running: str | None = None
) -> HostReleases:
    events = [
        Event.parse(f"2024-01-01T00:00:{i:02}Z {line}")
        for i, line in enumerate(history.split(","))
        if line
    ]
    return HostReleases(
        "web1",
        "/srv/app",
        current,
        running,
        "mix",
        tuple(present.split()),
        tuple(e for e in events if e is not None),
    )


@pytest.mark.parametrize(
    ("present", "history", "current", "previous"),
    [
        ("1 2", "deployed 1,started 1,deployed 2,started 2", "2", "1"),
        # a release whose start failed is never the way back
        ("1 2 3", "started 1,started 2,failed 2,deployed 3", "3", "1"),
        # extracted, but its deploy never switched (failed on another host): unknown, not chosen
        ("1 2 3", "started 1,started 3", "3", "1"),
        # the history order decides, not the version order (an older version redeployed)
        ("1 2", "started 2,started 1", "1", "2"),
        # rolled back from: a second rollback goes further back
        ("1 2 3", "started 1,started 2,started 3,rolled_back 3,deployed 2,started 2", "2", "1"),
        # deployed again after a rollback: good again
        ("1 2", "started 1,started 2,rolled_back 2,started 1,deployed 2", "1", "2"),
        # a good release no longer on the host does not count
        ("2 3", "started 1,started 2,failed 2,started 3", "3", None),
        ("1", "started 1", "1", None),
        ("1", "", "1", None),
    ],
)
def test_previous_is_the_latest_good_release_that_is_not_current(
    present: str, history: str, current: str, previous: str | None
) -> None:
    assert host(present, history, current).previous() == previous


@pytest.mark.parametrize(
    ("present", "history", "current", "running", "keep", "pruned"),
    [
        ("1 2 3 4", "started 1,started 2,started 3,started 4", "4", "4", 2, ["1", "2"]),
        ("1 2 3 4", "started 1,started 2,started 3,started 4", "4", "4", 5, []),
        # current, running and previous stay even beyond keep
        ("1 2 3 4", "started 1,started 2,started 3,deployed 4", "4", "2", 1, ["1"]),
        # never-deployed leftovers go first, whatever their version
        ("1 2 9", "started 1,started 2", "2", "2", 2, ["9"]),
        # recency is the history's, not the version's
        ("1 2 3", "started 3,started 1,started 2", "2", "2", 2, ["3"]),
        # previous is not pruned even when it is the oldest
        ("1 2 3", "started 1,started 2,failed 2,started 3", "3", "3", 1, ["2"]),
    ],
)
def test_prunable_keeps_the_newest_and_never_current_running_or_previous(
    present: str, history: str, current: str, running: str, keep: int, pruned: list[str]
) -> None:
    assert host(present, history, current, running).prunable(keep) == pruned


def test_history_lines_that_are_not_events_are_ignored() -> None:
    assert Event.parse("2024-01-01T00:00:00Z started 0.1.0") == Event(
        "2024-01-01T00:00:00Z", "started", "0.1.0"
    )
    assert Event.parse("garbage") is None
    assert Event.parse("") is None


def test_a_kept_hot_upgrade_keeps_the_directory_it_lives_in() -> None:
    # 1 was hot-upgraded to 2 (releases/2 -> 1); then 3 deployed cold beside, not restarted
    releases = HostReleases(
        "web1",
        "/srv/app",
        "3",
        "1",
        "mix",
        ("1", "2", "3"),
        (Event("t1", "started", "1"), Event("t2", "deployed", "2"), Event("t3", "deployed", "3")),
        aliases={"2": "1"},
    )
    assert releases.prunable(1) == []  # 3 current, 1 running, 2 previous
    # node stopped, 1's events trimmed from the history: only the alias keeps 1
    stopped = HostReleases(
        "web1", "/srv/app", "2", None, "mix", ("1", "2"), (Event("t2", "deployed", "2"),)
    )
    assert stopped.prunable(1) == ["1"]
    assert replace(stopped, aliases={"2": "1"}).prunable(1) == []
