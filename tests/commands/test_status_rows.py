"""How `deliver status` judges its rows: drift between hosts, uptimes, the last deployer."""

from __future__ import annotations

import pytest

from deliver.commands.status import drift, note, uptime
from deliver.host.status import HostStatus, NodeReport, _deployer


def host(name: str, current: str | None, runs: str | None) -> HostStatus:
    node = NodeReport(runs, 42, 5) if runs else None
    return HostStatus(name, True, current=current, running=current, node=node)


@pytest.mark.parametrize(
    ("rows", "drifted"),
    [
        ([host("a", "1", "1"), host("b", "1", "1")], set()),
        ([host("a", "1", "1"), host("b", "1", "1"), host("c", "2", "1")], {"c"}),
        ([host("a", "1", "1"), host("b", "1", None)], {"a", "b"}),  # no majority: both
        ([host("a", "1", "1"), HostStatus("b", False, error="refused")], set()),
    ],
)
def test_drift_flags_the_hosts_that_differ_from_the_most(
    rows: list[HostStatus], drifted: set[str]
) -> None:
    assert drift(rows) == drifted


def test_a_row_says_what_a_restart_would_change() -> None:
    assert note(host("a", "2", "1"), False) == "runs 1, current is 2: a restart boots 2"
    assert note(host("a", "2", None), True) == "node down: deliver start boots 2; DRIFT"
    assert note(host("a", None, None), False) == "nothing deployed"


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (59, "59s"), (61, "1m1s"), (3720, "1h2m"), (90000, "1d1h")]
)
def test_uptime_shows_the_two_largest_units(seconds: int, shown: str) -> None:
    assert uptime(seconds) == shown


def test_the_deployer_is_who_made_the_last_successful_deploy() -> None:
    lines = [
        "2026-01-01T10:00:00+0000 alice@laptop deploy release 0.1.0: ok",
        "2026-01-01T11:00:00+0000 bob@ci deploy release 0.1.1: failed",
        "2026-01-01T12:00:00+0000 carol@box restart: ok",
        "garbage",
    ]
    assert _deployer(lines) == "alice@laptop"
    assert _deployer([*lines, "2026-01-01T13:00:00+0000 dan@ci rollback 0.1.0: ok"]) == "dan@ci"
    assert _deployer([]) is None
