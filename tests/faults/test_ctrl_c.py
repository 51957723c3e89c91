"""Ctrl-C at each step of a deploy, once and twice: a real SIGINT sent to a real `deliver`
process deploying 0.1.1 over web1 and web2 (both on 0.1.0) in two batches. A hook or a slowed
command holds the step open long enough to press Ctrl-C in it.

Once: acknowledged at once on stderr, the step in flight finishes, nothing new begins; the
exit status is 130 unless everything was done (then 0); the table says what each host runs
and the hint how to finish, and running that finishes the job (it resumes).
Twice: deliver gives up on the step in flight and still says what each host runs (checked
against the hosts themselves) and how to recover, and that command recovers.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.faults.conftest import NEW, OLD, Fleet, start_deliver
from tests.faults.injectors import fault
from tests.faults.test_faults import AGAIN, BACK_AS_BEFORE, table_row

pytestmark = pytest.mark.slow

DEPLOY = ("deploy", "release", "production", f"--version={NEW}", "--start-deploy")
GO_BACK = f"deliver deploy release to production --version {OLD} --start-deploy"


def _run_hint(fleet: Fleet, text: str, command: str) -> None:
    """Run the command the hint gave (it must be there), as the user would."""
    assert command in text, text
    words = command.split()[1:]
    again = fleet.cli(*words)
    assert again.exit_code == 0, again.output


def _acknowledged(running: object, sent: float, text: str) -> None:
    from tests.faults.conftest import Running

    assert isinstance(running, Running)
    when = running.wait_for(text, timeout=10)
    assert when - sent < 1.5, f"acknowledged {when - sent:.1f}s after Ctrl-C"


def test_once_while_uploading_nothing_is_switched(fleet: Fleet) -> None:
    fleet.hooks(pre_extract="sleep 2")
    running = start_deliver(fleet.config, *DEPLOY)
    running.wait_for("Uploading to 2 host(s)")
    sent = running.interrupt()
    _acknowledged(running, sent, "finishing the prepare on 2 hosts; Ctrl-C again to abandon")
    assert running.finish() == 130, running.output
    assert "interrupted (Ctrl-C): stopped before any host was switched" in running.err
    assert table_row(running.err, "web1", OLD, OLD, "up")
    assert table_row(running.err, "web2", OLD, OLD, "up")
    assert BACK_AS_BEFORE in running.err
    fleet.assert_all(OLD)


def test_once_during_the_switch_the_batch_finishes_and_a_rerun_resumes(fleet: Fleet) -> None:
    with fault(fleet.sandbox, ["web1", "web2"], "switch", harm="slow"):
        running = start_deliver(fleet.config, *DEPLOY)
        running.wait_for("batch 1/2: web1 ...")
        time.sleep(0.5)
        sent = running.interrupt()
        _acknowledged(running, sent, "finishing the switch on 1 host; Ctrl-C again to abandon")
        assert running.finish() == 130, running.output
    err = running.err
    assert "interrupted (Ctrl-C) after batch 1/2: done on web1; not touched: web2" in err
    assert table_row(err, "web1", NEW, NEW, "up") and table_row(err, "web2", OLD, OLD, "up")
    assert fleet.runs() == {"web1": NEW, "web2": OLD}
    assert f"hint: to finish: {AGAIN}; to go back: {GO_BACK}" in err
    # the same command again touches only web2
    rerun = fleet.cli(*DEPLOY)
    assert rerun.exit_code == 0, rerun.output
    assert f"web1: already on {NEW}: left alone" in rerun.stdout
    fleet.assert_all(NEW)


def test_once_during_a_restart_and_the_hint_goes_back(fleet: Fleet) -> None:
    fleet.hooks(pre_start="sleep 2")
    running = start_deliver(fleet.config, *DEPLOY)
    running.wait_for("batch 1/2: web1 ...")
    time.sleep(0.5)
    sent = running.interrupt()
    _acknowledged(running, sent, "finishing the restart on 1 host; Ctrl-C again to abandon")
    assert running.finish() == 130, running.output
    assert table_row(running.err, "web1", NEW, NEW, "up")
    assert fleet.runs() == {"web1": NEW, "web2": OLD}
    _run_hint(fleet, running.err, GO_BACK)
    fleet.assert_all(OLD)


def test_once_during_the_last_batch_everything_is_done_and_it_exits_0(fleet: Fleet) -> None:
    fleet.hooks(pre_start="sleep 2")
    running = start_deliver(fleet.config, *DEPLOY)
    running.wait_for("batch 2/2: web2 ...")
    time.sleep(0.5)
    sent = running.interrupt()
    _acknowledged(running, sent, "finishing the restart on 1 host; Ctrl-C again to abandon")
    assert running.finish() == 0, running.output
    assert "Ctrl-C came after the last step had begun: everything asked for was done" in (
        running.output
    )
    assert table_row(running.output, "web2", NEW, NEW, "up")
    fleet.assert_all(NEW)


def test_twice_while_uploading(fleet: Fleet) -> None:
    fleet.hooks(pre_extract="sleep 4")
    running = start_deliver(fleet.config, *DEPLOY)
    running.wait_for("Uploading to 2 host(s)")
    running.interrupt()
    time.sleep(0.3)
    running.interrupt()
    assert running.finish() == 130, running.output
    assert "abandoned (Ctrl-C twice): steps in flight were cut off" in running.err
    assert " ready" not in running.output  # the hooks in flight were not waited for
    assert table_row(running.err, "web1", OLD, OLD, "up")
    assert table_row(running.err, "web2", OLD, OLD, "up")
    fleet.assert_all(OLD)


def test_twice_during_a_restart_says_what_each_host_runs(fleet: Fleet) -> None:
    fleet.hooks(pre_start="sleep 4")
    running = start_deliver(fleet.config, *DEPLOY)
    running.wait_for("batch 1/2: web1 ...")
    time.sleep(0.5)
    running.interrupt()
    time.sleep(0.3)
    running.interrupt()
    assert running.finish() == 130, running.output
    err = running.err
    assert "abandoned (Ctrl-C twice): steps in flight were cut off" in err
    # what the table says is what the hosts have: web1 switched, its node not restarted
    for host in ("web1", "web2"):
        current, _, answer = fleet.host(host)
        node = "up" if answer else "down"
        assert re.search(rf"^  {host} +{current} +{answer or '-'} +{node}", err, re.M), err
    assert fleet.host("web1") == (NEW, OLD, OLD)
    _run_hint(fleet, err, AGAIN)
    fleet.assert_all(NEW)
