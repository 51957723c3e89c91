"""Faults in the commands that start, stop or migrate without deploying, on the fault fleet
(web1 and web2 running 0.1.0): a real SIGINT to a real `deliver start`, a connection killed
in the middle of `deliver stop`, a failing migration. After each: what every host runs, the
exit status, and a message naming the host and the command that recovers, which then does.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import HOSTS, OLD, Fleet, Running, start_deliver
from tests.faults.injectors import fault, fired
from tests.faults.test_faults import table_row

pytestmark = pytest.mark.slow

START = "deliver start production"
#: a pre_start hook that says on the host that it began, then holds the start open
HELD_START = ': > "$DELIVER_TO/pre-start.$DELIVER_HOST"; sleep {seconds}'


def _stopped(fleet: Fleet) -> None:
    result = fleet.cli("stop", "production")
    assert result.exit_code == 0, result.output
    for host in HOSTS:
        assert fleet.host(host) == (OLD, None, None)


def _in_the_hooks(fleet: Fleet, running: Running) -> None:
    """Wait until every host's pre_start hook has begun (the hosts are in flight)."""
    marks = [fleet.root(host) / f"pre-start.{host}" for host in HOSTS]
    deadline = time.monotonic() + 30
    while not all(mark.exists() for mark in marks):
        assert time.monotonic() < deadline and running.process.poll() is None, running.output
        time.sleep(0.05)
    for mark in marks:
        mark.unlink()


def _down_within(fleet: Fleet, host: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while fleet.host(host)[2] is not None:
        assert time.monotonic() < deadline, f"{host} still answers"
        time.sleep(0.2)


def test_ctrl_c_once_during_start_lets_every_start_finish(fleet: Fleet) -> None:
    _stopped(fleet)
    fleet.hooks(pre_start=HELD_START.format(seconds=2))
    running = start_deliver(fleet.config, "start", "production")
    _in_the_hooks(fleet, running)
    sent = running.interrupt()
    when = running.wait_for("finishing the start on 2 hosts; Ctrl-C again to abandon", 10)
    assert when - sent < 1.5, f"acknowledged {when - sent:.1f}s after Ctrl-C"
    # both hosts were in flight: everything asked for was done
    assert running.finish() == 0, running.output
    assert "Ctrl-C came after the last step had begun: everything asked for was done" in (
        running.output
    )
    for host in HOSTS:
        assert table_row(running.output, host, OLD, OLD, "up"), running.output
    fleet.assert_all(OLD)


def test_ctrl_c_twice_during_start_says_the_nodes_are_down_and_start_recovers(
    fleet: Fleet,
) -> None:
    _stopped(fleet)
    fleet.hooks(pre_start=HELD_START.format(seconds=4))
    running = start_deliver(fleet.config, "start", "production")
    _in_the_hooks(fleet, running)
    running.interrupt()
    time.sleep(0.3)
    running.interrupt()
    assert running.finish() == 130, running.output
    err = running.err
    assert "abandoned (Ctrl-C twice): steps in flight were cut off" in err
    # the hooks were cut off before any node was started: the table says so, truly
    for host in HOSTS:
        assert fleet.host(host) == (OLD, None, None)
        assert table_row(err, host, OLD, "-", "down"), err
    assert f"hint: to finish: {START}" in err
    assert "Traceback" not in running.output
    again = fleet.cli("start", "production")
    assert again.exit_code == 0, again.output
    fleet.assert_all(OLD)


def test_connection_killed_during_stop_names_the_host_and_how_to_start_again(
    fleet: Fleet,
) -> None:
    with fault(fleet.sandbox, ["web2"], "restart"):  # the stop loop's check of the pid
        result = fleet.cli("stop", "production")
        assert fired(fleet.sandbox, "web2", "restart"), result.output
    assert result.exit_code == 3, result.output
    err = result.stderr
    assert "stop failed on 1 host(s): web2" in err and "connection lost" in err
    assert "web1: stopped 0.1.0" in result.stdout
    assert table_row(err, "web1", OLD, "-", "down"), err
    # web2's stop went on without deliver (the node had been asked to stop): the table says
    # what it saw, and the hint which nodes are stopped and how to start them again
    assert table_row(err, "web2", OLD, "-", "down") or table_row(err, "web2", OLD, OLD, "up")
    assert "stopped now: web1" in err or "every node is stopped now" in err
    assert f"to start them again: {START}" in err
    assert "Traceback" not in result.output
    _down_within(fleet, "web2", 15)
    assert fleet.host("web1") == (OLD, None, None)
    again = fleet.cli("start", "production")
    assert again.exit_code == 0, again.output
    fleet.assert_all(OLD)


def test_a_failing_migration_says_which_host_ran_it(fleet: Fleet) -> None:
    fleet.edit(lambda data: data.update(migrations={"up": 'raise "the migration broke"'}))
    result = fleet.cli("migrate", "production", "up")
    assert result.exit_code == 1, result.output
    err = result.stderr
    assert "migrating up failed on web1" in err and "the migration broke" in err
    assert table_row(err, "web1", OLD, OLD, "up"), err
    assert "the migrations ran on web1 only (the primary host; no other host runs them)" in err
    assert "deliver show migrations production says which are applied" in err
    assert "deliver migrate production up runs them again" in err
    assert "Traceback" not in result.output
    fleet.assert_all(OLD)


def test_ctrl_c_once_during_a_migration_lets_it_finish(fleet: Fleet) -> None:
    fleet.edit(
        lambda data: data.update(migrations={"up": ':timer.sleep(2000); IO.puts("all migrated")'})
    )
    running = start_deliver(fleet.config, "migrate", "production", "up")
    lock = fleet.root("web1") / ".deliver.lock"
    deadline = time.monotonic() + 30
    while not lock.exists():  # connected and locked: the migration begins
        assert time.monotonic() < deadline and running.process.poll() is None, running.output
        time.sleep(0.05)
    time.sleep(0.5)
    sent = running.interrupt()
    when = running.wait_for("finishing the migration on 1 host; Ctrl-C again to abandon", 10)
    assert when - sent < 1.5, f"acknowledged {when - sent:.1f}s after Ctrl-C"
    assert running.finish() == 0, running.output
    assert "web1 | all migrated" in running.output and "web1: done" in running.output
    assert "Ctrl-C came after the last step had begun: everything asked for was done" in (
        running.output
    )
    assert table_row(running.output, "web1", OLD, OLD, "up"), running.output
    fleet.assert_all(OLD)
