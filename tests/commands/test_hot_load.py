"""A hot upgrade under load: while `deliver upgrade` takes both sandbox hosts from 0.1.0 to 0.2.0
(a GenServer whose state changes shape, with an appup deliver generated), a client asks the
app on both hosts every ~20 ms over loopback. Not one request may fail, the OS pids stay, the
state is converted by code_change; then the same for the way back (`deliver rollback`).

The figures (requests sent, failed, the longest response) are printed: run with -s to see them.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType

import pytest

from deliver.sandbox import Sandbox
from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids

pytestmark = pytest.mark.slow

INTERVAL = 0.02
#: bounds of one client loop: it stops at whichever comes first
MAX_REQUESTS, MAX_SECONDS = 6000, 120.0


@dataclass
class Load:
    """A client loop on its own thread, asking each host's `/` in turn every INTERVAL."""

    ports: list[int]
    app: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    longest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while not self._stop.is_set() and self.sent < MAX_REQUESTS:
            if time.monotonic() > deadline:
                self.failures.append(f"the client loop ran out of time ({MAX_SECONDS:g} s)")
                return
            port = self.ports[self.sent % len(self.ports)]
            self.sent += 1
            began = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode().strip()
                if not body.startswith(f"{self.app} "):
                    self.failures.append(f"port {port}: unexpected answer {body!r}")
            except OSError as error:
                self.failures.append(f"port {port}: {error}")
            took = time.monotonic() - began
            self.longest = max(self.longest, took)
            self._stop.wait(max(0.0, INTERVAL - took))

    def figures(self, what: str) -> str:
        return (
            f"{self.app} {what} under load: {self.sent} requests, {len(self.failures)} failed, "
            f"longest response {self.longest * 1000:.0f} ms"
        )


@pytest.mark.parametrize("app_fixture", ["mix_app", "rebar3_app"])
def test_a_hot_upgrade_and_its_rollback_under_load_drop_no_request(
    sandbox: Sandbox, hosts: Hosts, app_fixture: str, request: pytest.FixtureRequest
) -> None:
    app: UpgradeApp = request.getfixturevalue(app_fixture)
    config = hosts.config(app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    hosts.incr("web1", 3)
    hosts.incr("web2", 1)
    started = pids(config)
    ports = [sandbox.host(name).app_port for name in ("web1", "web2")]

    with Load(ports, app.name) as up:
        upgraded = ok(deliver(config, "upgrade", "production", "--to=v0.2.0"))
    print(up.figures("0.1.0 -> 0.2.0"))
    assert up.failures == []
    assert up.sent > 10  # the loop ran all along the upgrade
    assert "web1: 0.1.0 -> 0.2.0, hot (pid" in upgraded.stdout
    relup = ok(deliver(config, "show", "relup", "0.2.0")).stdout
    assert f"generated appups: {app.name}" in relup  # no hand-written appup
    assert pids(config) == started
    assert hosts.ask("web1") == f"{app.name} 0.2.0"
    assert hosts.ask("web1", "/state") == app.state_after  # code_change converted it
    assert hosts.ask("web2", "/state") == app.state_after.replace("3", "1")

    with Load(ports, app.name) as down:
        rolled_back = ok(deliver(config, "rollback", "production"))
    print(down.figures("0.2.0 -> 0.1.0"))
    assert down.failures == []
    assert "web1: 0.2.0 -> 0.1.0, hot (pid" in rolled_back.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == f"{app.name} 0.1.0"
    assert hosts.ask("web1", "/state") == app.state_before
    assert hosts.ask("web2", "/state") == "1"
