"""Ctrl-C during a hot upgrade: a real SIGINT sent to a real `deliver upgrade` (the mix
sample's stored upgrade 0.1.0 -> 0.2.0, hot_apps.py) over web1 and web2, both running 0.1.0.
A pre_upgrade hook holds each host's install open long enough to press Ctrl-C in it.

Afterwards every host runs the old version or the new one, whole (current names it, the node
answers it), each with the OS process it had: a hot upgrade keeps the pid. The message says
what each host runs and the command that finishes or undoes it, and that command does.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids
from tests.faults.conftest import Fleet, start_deliver
from tests.faults.injectors import fault, fired
from tests.faults.test_faults import table_row

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _fleet_stopped(fleet_base: Fleet) -> None:
    """The fault fleet's nodes use the same hosts' ports and node names: they are stopped
    for these cases (the next case that needs the fleet starts them again)."""
    stopped = fleet_base.cli("stop", "production")
    assert stopped.exit_code == 0, stopped.output


UPGRADE = ("upgrade", "production", "--to=v0.2.0")
FINISH = "deliver deploy upgrade production --version 0.2.0"
BACK = "deliver downgrade production --version 0.1.0"


def _on_0_1_0(hosts: Hosts, app: UpgradeApp, hold: int) -> tuple[Path, dict[str, str]]:
    """Both hosts on 0.1.0, each install to be held `hold` seconds by a hook; their pids."""
    config = hosts.config(app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    if hold:
        config.write_text(config.read_text() + f"hooks:\n  pre_upgrade: sleep {hold}\n")
    return config, pids(config)


def _runs(hosts: Hosts) -> dict[str, tuple[str, str]]:
    """(what current names, what the app answers) on each host."""
    return {
        host: (hosts.sh(host, "readlink current"), hosts.ask(host)) for host in ("web1", "web2")
    }


def test_once_during_the_canary_no_other_host_is_upgraded_and_the_hint_finishes(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    config, started = _on_0_1_0(hosts, mix_app, hold=2)
    running = start_deliver(config, *UPGRADE, "--canary=web1")
    running.wait_for("Upgrading the canary web1 first")
    time.sleep(0.5)  # in the canary's hook
    sent = running.interrupt()
    when = running.wait_for("finishing the install on 1 host; Ctrl-C again to abandon", 10)
    assert when - sent < 1.5, f"acknowledged {when - sent:.1f}s after Ctrl-C"
    assert running.finish() == 130, running.output
    err = running.err
    assert "interrupted (Ctrl-C): stopped before upgrading the nodes after the canary web1" in err
    # what each node says it runs: web1 hot-upgraded in its 0.1.0 directory
    assert table_row(err, "web1", "0.2.0", "0.2.0", "up"), err
    assert table_row(err, "web2", "0.1.0", "0.1.0", "up"), err
    assert f"hint: to finish: {FINISH}; to go back: {BACK}" in err
    assert _runs(hosts) == {
        "web1": ("releases/0.2.0", "hello 0.2.0"),
        "web2": ("releases/0.1.0", "hello 0.1.0"),
    }
    assert pids(config) == started

    finished = ok(deliver(config, *FINISH.split()[1:]))
    assert "web1: already running 0.2.0" in finished.stdout
    assert "web2: 0.1.0 -> 0.2.0, hot" in finished.stdout
    assert _runs(hosts) == dict.fromkeys(("web1", "web2"), ("releases/0.2.0", "hello 0.2.0"))
    assert pids(config) == started


def test_twice_during_the_install_every_node_runs_on_as_before(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    config, started = _on_0_1_0(hosts, mix_app, hold=4)
    running = start_deliver(config, *UPGRADE)
    running.wait_for("Installing through the release handler on 2 host(s)")
    time.sleep(0.5)  # in both hosts' hooks
    sent = running.interrupt()
    when = running.wait_for("finishing the install on 2 hosts; Ctrl-C again to abandon", 10)
    assert when - sent < 1.5, f"acknowledged {when - sent:.1f}s after Ctrl-C"
    running.interrupt()
    assert running.finish() == 130, running.output
    err = running.err
    assert "abandoned (Ctrl-C twice): steps in flight were cut off" in err
    assert ", hot (pid" not in running.output  # no install was waited for
    for host in ("web1", "web2"):
        assert table_row(err, host, "0.1.0", "0.1.0", "up"), err
    assert f"hint: every host runs what it ran before; to try again: {FINISH}" in err
    assert "Traceback" not in running.output
    # the hooks in flight were cut off before their install: the nodes run on, untouched
    assert _runs(hosts) == dict.fromkeys(("web1", "web2"), ("releases/0.1.0", "hello 0.1.0"))
    assert pids(config) == started

    ok(deliver(config, *FINISH.split()[1:]))
    assert _runs(hosts) == dict.fromkeys(("web1", "web2"), ("releases/0.2.0", "hello 0.2.0"))
    assert pids(config) == started


def test_connection_lost_after_the_release_handler_switched_and_a_rerun_records_it(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    """The connections drop after the release handler switched the nodes (installed and
    permanent) and before deliver recorded it (current still names 0.1.0), as after a second
    Ctrl-C at that moment: the table shows what the nodes say they run, and rerunning the
    upgrade records it."""
    config, started = _on_0_1_0(hosts, mix_app, hold=0)
    with fault(hosts.sandbox, ["web1", "web2"], "record"):
        failed = deliver(config, *UPGRADE)
        assert all(fired(hosts.sandbox, host, "record") for host in ("web1", "web2"))
    assert failed.exit_code == 3, failed.output
    err = failed.stderr
    assert "install failed on 2 host(s): web1, web2" in err and "connection lost" in err
    for host in ("web1", "web2"):
        assert table_row(err, host, "0.1.0", "0.2.0", "up"), err
    assert f"hint: to finish: {FINISH}; to go back: {BACK}" in err
    assert "every host runs what it ran before" not in err
    assert _runs(hosts) == dict.fromkeys(("web1", "web2"), ("releases/0.1.0", "hello 0.2.0"))
    assert pids(config) == started

    # the way to finish records what the nodes run (the way back was tried by hand: it
    # downgrades them, as from any hot upgrade)
    finished = ok(deliver(config, *FINISH.split()[1:]))
    assert "web1: already running 0.2.0" in finished.stdout
    assert _runs(hosts) == dict.fromkeys(("web1", "web2"), ("releases/0.2.0", "hello 0.2.0"))
    assert hosts.sh("web1", "readlink releases/0.2.0") == "0.1.0"
    assert pids(config) == started
