"""Zero downtime by default, measured: a client asks every host's app about every 20 ms while
the default `deploy release --start-deploy`, `rollback` and `restart` run on 2 and 3 real
sandbox hosts, and counts the instants at which no host answered. With `--all-at-once` the same
probe sees the dark window (so it is able to fail).

One deploy_to per host count carries the whole sequence (deploy 0.1.0, deploy 0.1.1, rollback,
restart, restart --all-at-once), so the cases share their deploys.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox, start_sandbox, stop_sandbox
from tests.commands.test_deploy import ask_app
from tests.conftest import BuiltApp, run_cli, write_config

pytestmark = pytest.mark.slow


@dataclass
class Probe:
    """Asks every port in turn, about every `interval` seconds, from its own thread: one round
    is an instant, dark when no port answered 200. It stops by itself after `max_instants`
    rounds or `max_seconds`, whichever comes first, and when stopped."""

    ports: list[int]
    interval: float = 0.02
    max_instants: int = 6000
    max_seconds: float = 120.0
    instants: int = 0
    dark: int = 0
    bounded: bool = False  # stopped by a bound rather than by stop()
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set():
            if self.instants >= self.max_instants or time.monotonic() > deadline:
                self.bounded = True
                return
            self.instants += 1
            if not any(answers(port) for port in self.ports):
                self.dark += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status == 200 and response.read().startswith(b"hello ")
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@contextmanager
def probing(ports: list[int]) -> Iterator[Probe]:
    probe = Probe(ports)
    thread = threading.Thread(target=probe.run, name="probe", daemon=True)
    thread.start()
    try:
        yield probe
    finally:
        probe.stop()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A build host (unused: the store already holds both releases) and three targets."""
    root = tmp_path_factory.mktemp("sandbox3")
    box = start_sandbox(root, targets=3)
    yield box
    stop_sandbox(root)


def hosts_of(request: pytest.FixtureRequest, count: int) -> Sandbox:
    box: Sandbox = request.getfixturevalue("sandbox" if count == 2 else "three_hosts")
    assert len(box.targets) == count
    return box


# 3 hosts also gate each batch on the health URL, 2 hosts on the node alone (the default)
EXTRA = {2: "", 3: "health_check: {url: 'http://127.0.0.1:{PORT}/', interval: 0.2}\n"}

SEQUENCE = [
    ("deploy", ("deploy", "release", "production", "--version=0.1.1", "--start-deploy"), "0.1.1"),
    ("rollback", ("rollback", "production"), "0.1.0"),
    ("restart", ("restart", "production"), "0.1.0"),
    ("restart --all-at-once", ("restart", "production", "--all-at-once"), "0.1.0"),
]


@pytest.mark.parametrize("count", [2, 3])
def test_default_restarts_always_leave_a_host_serving(
    request: pytest.FixtureRequest, two_versions: BuiltApp, tmp_path: Path, count: int
) -> None:
    box = hosts_of(request, count)
    names = [host.name for host in box.targets]
    ports = [host.app_port for host in box.targets]
    config = write_config(
        tmp_path / "deliver.yml",
        box,
        deliver_to=f"~/downtime_{count}",
        store=two_versions.store,
        extra=EXTRA[count],
    )
    figures: dict[str, tuple[int, int]] = {}
    outputs: dict[str, str] = {}
    try:
        first = run_cli(
            "--config", config, "deploy", "release", "production", "--version=0.1.0",
            "--start-deploy",
        )  # fmt: skip
        assert first.exit_code == 0, first.output
        assert all(answers(port) for port in ports)
        for case, args, version in SEQUENCE:
            with probing(ports) as probe:
                result = run_cli("--config", config, *args)
            assert result.exit_code == 0, (case, result.output)
            assert not probe.bounded, (case, probe)
            figures[case], outputs[case] = (probe.instants, probe.dark), result.stdout
            assert [ask_app(box, name) for name in names] == [f"hello {version}\n"] * count
    finally:
        run_cli("--config", config, "stop", "production")
    print(f"\n{count} hosts, (instants sampled, dark instants): {figures}")

    for case in ("deploy", "rollback", "restart"):
        instants, dark = figures[case]
        assert instants >= 50, (case, figures)  # the probe really watched the whole run
        assert dark == 0, (case, figures)
    assert figures["restart --all-at-once"][1] >= 1, figures

    served = f"At least {count - 1} of {count} hosts served throughout"
    for case in ("deploy", "rollback", "restart"):
        assert f"on {count} hosts, 1 at a time: {count} batches" in outputs[case]
        for number, name in enumerate(names, 1):
            assert f"batch {number}/{count}: {name} ... healthy" in outputs[case]
        assert served in outputs[case]
    assert "Switching to 0.1.1 and restarting hello" in outputs["deploy"]
    assert f"All {count} hosts restarted at once: none served" in outputs["restart --all-at-once"]
    assert "batch 1/" not in outputs["restart --all-at-once"]
