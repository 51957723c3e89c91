"""The fault suite, for `deploy release` without --start-deploy: a host whose connection drops
while `current` is being switched. The switch is all or none: the host is reached again over a
fresh connection and switched, or, when it cannot be reached, the hosts that were switched go
back. Afterwards every host's `current` is asserted, and the nodes kept running 0.1.0 whole.
"""

from __future__ import annotations

import os
import re
import threading
import time

import pytest

from tests.faults.conftest import HOSTS, NEW, OLD, Fleet
from tests.faults.injectors import fault, fired, start_sshd

pytestmark = pytest.mark.slow


def currents(fleet: Fleet) -> dict[str, str]:
    return {
        host: os.readlink(fleet.root(host) / "current").removeprefix("releases/") for host in HOSTS
    }


def assert_switched_and_still_running_old(fleet: Fleet) -> None:
    assert currents(fleet) == dict.fromkeys(HOSTS, NEW)
    for host in HOSTS:
        _, running, answer = fleet.host(host)
        assert (running, answer) == (OLD, OLD)  # not restarted: the nodes run what they ran
    unlocked = fleet.cli("lock", "status", "production")
    assert unlocked.stdout.count("not locked") == 2, unlocked.output
    back = fleet.deploy(OLD)  # `current` back on 0.1.0, as the next case expects it
    assert back.exit_code == 0, back.output


def test_a_host_dropped_mid_switch_is_reached_again_and_switched(fleet: Fleet) -> None:
    with fault(fleet.sandbox, ["web2"], "switch"):
        result = fleet.deploy(NEW)
        assert fired(fleet.sandbox, "web2", "switch"), result.output
    assert result.exit_code == 0, result.output
    assert "warning: lost the connection to web2 during the switch: reconnecting" in (result.stderr)
    assert f"web2: switched to {NEW} over a new connection" in result.stdout
    assert f"Deployed hello {NEW} to production" in result.stdout
    assert (
        "the nodes keep running what they were started from (web1 0.1.0, web2 0.1.0) until "
        f"restarted: deliver restart production boots {NEW}"
    ) in result.stdout
    assert "pruned" not in result.output and "still held" not in result.output
    assert_switched_and_still_running_old(fleet)


def test_a_host_back_a_moment_later_is_switched_on_a_later_try(fleet: Fleet) -> None:
    def bring_back() -> None:
        deadline = time.monotonic() + 120
        while not fired(fleet.sandbox, "web2", "switch") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        start_sshd(fleet.sandbox, "web2")

    with fault(fleet.sandbox, ["web2"], "switch", harm="down"):
        restarter = threading.Thread(target=bring_back)
        restarter.start()
        result = fleet.deploy(NEW)
        restarter.join()
    assert result.exit_code == 0, result.output
    assert f"web2: switched to {NEW} over a new connection" in result.stdout
    assert_switched_and_still_running_old(fleet)


def test_a_host_that_cannot_be_reached_again_sends_the_others_back(fleet: Fleet) -> None:
    try:
        with fault(fleet.sandbox, ["web2"], "switch", harm="down"):
            result = fleet.deploy(NEW)
            assert fired(fleet.sandbox, "web2", "switch"), result.output
    finally:
        start_sshd(fleet.sandbox, "web2")
    assert result.exit_code == 3, result.output
    text = result.stderr
    assert "error: switch failed on 1 host(s): web2" in text
    assert "  web2: cannot connect to web2" in text
    assert f"  switched back to {OLD}: web1" in text
    assert re.search(rf"^  web1 +{OLD} +{OLD} +up$", text, re.M), text
    assert re.search(r"^  web2 +- +- +unknown: cannot connect to web2", text, re.M), text
    assert (
        f"hint: to finish: deliver deploy release to production --version {NEW}; "
        f"to go back: deliver deploy release to production --version {OLD}"
    ) in text
    assert (
        "the deploy lock of production is still held on web2: deliver lock release "
        "production --force"
    ) in text
    assert "Traceback" not in result.output
    # web2's switch never happened (the host went down first): both on 0.1.0, whole
    assert currents(fleet) == dict.fromkeys(HOSTS, OLD)
    released = fleet.cli("lock", "release", "production", "--force")
    assert "Released the lock of production on web2" in released.stdout, released.output
    fleet.assert_all(OLD)
