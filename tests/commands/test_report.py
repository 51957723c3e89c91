"""The state table and the way on after a failure or a Ctrl-C (pure logic)."""

from __future__ import annotations

import pytest

from deliver.commands.report import Recovery, state_table
from deliver.host.state import HostNow

FINISH = "deliver deploy release to production --version 0.2.0 --start-deploy"
BACK = "deliver deploy release to production --version 0.1.0 --start-deploy"


def recovery(**before: str | None) -> Recovery:
    return Recovery("production", FINISH, "0.2.0", True, dict(before))


def test_the_table_says_what_each_host_boots_runs_and_whether_it_answers() -> None:
    rows = [
        HostNow("web1", "0.2.0", "0.2.0", True),
        HostNow("web2", "0.2.0", "0.1.0", False),  # crashed: nothing runs
        HostNow("web10", problem="cannot connect to web10: connection refused"),
    ]
    assert state_table(rows).splitlines() == [
        "  HOST   CURRENT  RUNNING  NODE",
        "  web1   0.2.0    0.2.0    up",
        "  web2   0.2.0    -        down",
        "  web10  -        -        unknown: cannot connect to web10: connection refused",
    ]


@pytest.mark.parametrize(
    ("now", "advice"),
    [
        (
            [HostNow("web1", "0.1.0", "0.1.0", True), HostNow("web2", "0.1.0", "0.1.0", True)],
            f"every host runs what it ran before; to try again: {FINISH}",
        ),
        (
            [HostNow("web1", "0.2.0", "0.2.0", True), HostNow("web2", "0.1.0", "0.1.0", True)],
            f"to finish: {FINISH}; to go back: {BACK}",
        ),
        (  # a node left down is never "as before"
            [HostNow("web1", "0.1.0", None, False), HostNow("web2", "0.1.0", "0.1.0", True)],
            f"to finish: {FINISH}; to go back: {BACK}",
        ),
        (
            [HostNow("web1", "0.2.0", "0.2.0", True), HostNow("web2", "0.2.0", "0.2.0", True)],
            f"every host is done: {FINISH} has nothing left to do",
        ),
    ],
)
def test_the_advice_names_the_command_that_finishes_or_undoes(
    now: list[HostNow], advice: str
) -> None:
    assert recovery(web1="0.1.0", web2="0.1.0").advice(now) == advice


def test_no_way_back_when_the_hosts_had_different_releases_or_none() -> None:
    now = [HostNow("web1", "0.2.0", "0.2.0", True), HostNow("web2", None, None, False)]
    assert recovery(web1="0.1.0", web2=None).advice(now) == f"to finish: {FINISH}"
    assert recovery(web1="0.1.0", web2="0.0.9").undo(now) is None


def test_without_a_restart_a_host_is_done_once_current_names_the_release() -> None:
    switch_only = Recovery("production", "deliver deploy release ...", "0.2.0", False)
    assert switch_only.done(HostNow("web1", "0.2.0", "0.1.0", True))
    assert not recovery().done(HostNow("web1", "0.2.0", "0.1.0", True))
