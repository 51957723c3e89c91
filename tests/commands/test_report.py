"""The state table and the way on after a failure or a Ctrl-C (pure logic)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from deliver.commands.report import Recovery, hot_recovery, in_flight, state_table
from deliver.errors import NodeError
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


def test_a_hot_upgraded_host_runs_what_its_node_says_not_its_directory() -> None:
    # releases/0.1.0 hot-upgraded to 0.2.0: current names the alias, running the directory
    hot = HostNow("web1", "0.2.0", "0.1.0", True, version="0.2.0")
    assert hot.runs == "0.2.0" and hot.on("0.2.0")
    assert state_table([hot]).splitlines()[1] == "  web1  0.2.0    0.2.0    up"
    # a node that does not answer runs nothing, whatever its root boots
    assert HostNow("web1", "0.2.0", "0.1.0", False, version="0.2.0").runs is None


HOT_AGAIN = "deliver deploy upgrade production --version 0.2.0"
HOT_BACK = "deliver downgrade production --version {version}"


def test_a_hot_upgrade_goes_back_by_downgrade() -> None:
    hot = Recovery("production", HOT_AGAIN, "0.2.0", back=HOT_BACK)
    hot.before.update(web1="0.1.0", web2="0.1.0")
    now = [
        HostNow("web1", "0.2.0", "0.1.0", True, version="0.2.0"),
        HostNow("web2", "0.1.0", "0.1.0", True, version="0.1.0"),
    ]
    assert hot.advice(now) == (
        f"to finish: {HOT_AGAIN}; to go back: deliver downgrade production --version 0.1.0"
    )
    assert hot.advice(now[1:]) == f"every host runs what it ran before; to try again: {HOT_AGAIN}"


STOP = "deliver stop production"
START = "deliver start production"


@pytest.mark.parametrize(
    ("up", "advice"),
    [
        ((False, False), f"every node is stopped now; to start them again: {START}"),
        ((False, True), f"stopped now: web1; to start them again: {START}; to finish: {STOP}"),
        ((True, True), f"every node still runs; to try again: {STOP}"),
        ((False, None), f"stopped now: web1; to start them again: {START}; to finish: {STOP}"),
    ],
)
def test_a_stop_says_which_nodes_it_stopped_and_how_to_start_them(
    up: tuple[bool | None, bool | None], advice: str
) -> None:
    stop = Recovery("production", STOP, down=True, back=START)
    stop.before.update(web1="0.1.0", web2="0.1.0")
    now = [HostNow(f"web{i}", "0.1.0", "0.1.0", node) for i, node in enumerate(up, 1)]
    assert stop.advice(now) == advice
    assert [stop.done(host) for host in now] == [node is False for node in up]


def test_a_start_is_done_where_the_node_answers() -> None:
    start = Recovery("production", START)
    start.before.update(web1="0.1.0", web2="0.1.0")
    now = [HostNow("web1", "0.1.0", "0.1.0", True), HostNow("web2", "0.1.0", None, False)]
    assert start.advice(now) == f"to finish: {START}"
    assert start.advice(now[:1]) == f"every host is done: {START} has nothing left to do"


def test_a_command_that_failed_before_reading_any_host_changed_nothing() -> None:
    upgrade = Recovery("production", "deliver upgrade production")
    now = [HostNow("web1", "0.1.0", "0.1.0", True)]
    assert upgrade.advice(now) == (
        "every host runs what it ran before; to try again: deliver upgrade production"
    )


def test_fixed_advice_holds_whatever_the_hosts_run() -> None:
    migrate = Recovery("production", "deliver migrate production up", fixed="ran on web1 only")
    assert migrate.advice([HostNow("web1", "0.1.0", None, False)]) == "ran on web1 only"


class _Host:
    def __init__(self, name: str) -> None:
        self.name = name


def test_one_hosts_phase_raises_that_hosts_own_error() -> None:
    host = cast(Any, _Host("web1"))
    assert in_flight("install", host, lambda h: h.name) == "web1"

    def broken(h: Any) -> str:
        raise NodeError(h.name, "the node did not switch")

    with pytest.raises(NodeError, match="web1: the node did not switch"):
        in_flight("install", host, broken)


def test_a_node_that_switched_under_an_unchanged_current_is_no_host_as_before() -> None:
    # a hot install cut off after the release handler switched, before current was relinked
    hot = Recovery("production", HOT_AGAIN, "0.2.0", back=HOT_BACK)
    hot.learn({"web1": "0.1.0"})
    now = [HostNow("web1", "0.1.0", "0.1.0", True, version="0.2.0")]
    assert not hot.unchanged(now)
    assert hot.advice(now) == (
        f"to finish: {HOT_AGAIN}; to go back: deliver downgrade production --version 0.1.0"
    )


def test_a_hot_upgrade_and_a_downgrade_undo_each_other() -> None:
    up = hot_recovery("production", "0.2.0", ["web1"])
    assert up.finish == "deliver deploy upgrade production --version 0.2.0 --host web1"
    assert up.back == "deliver downgrade production --version {version} --host web1"
    down = hot_recovery("production", "0.1.0", [], downgrade=True)
    assert down.finish == "deliver downgrade production --version 0.1.0"
    down.learn({"web1": "0.2.0"})
    now = [HostNow("web1", "0.2.0", "0.1.0", True, version="0.2.0")]
    assert down.undo(now) == "deliver deploy upgrade production --version 0.2.0"
