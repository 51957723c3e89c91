"""The `command` service manager for real: runit (runsvdir, runsv, sv) started on a sandbox host
as the sandbox user, supervising a real release of the sample app through deploy, restart,
stop, start and rollback, while ping and version ask the node itself."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deliver.sandbox import Sandbox
from tests.commands.hot_apps import Hosts, UpgradeApp
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import edit_config, run_cli

pytestmark = pytest.mark.slow

RUN = """#!/bin/sh
exec 2>&1
cd {root} || exit 1
if [ -f deliver.env ]; then set -a; . ./deliver.env; set +a; fi
exec ./current/bin/{app} start
"""
LOG_RUN = """#!/bin/sh
mkdir -p {root}/log
exec svlogd -tt {root}/log
"""


@dataclass(frozen=True)
class Runit:
    config: Path
    root: str  # deliver_to on web1, absolute
    service: str  # the service directory runsv supervises

    def status(self, sandbox: Sandbox) -> str:
        return on_host(sandbox, "web1", f"sv status {self.service}")

    def pid(self, sandbox: Sandbox) -> int | None:
        match = re.match(r"run: \S+: \(pid (\d+)\)", self.status(sandbox))
        return int(match[1]) if match else None


@contextmanager
def supervised(sandbox: Sandbox, config: Path, app: str = "hello") -> Iterator[Runit]:
    """runsvdir on web1 (a process of the sandbox user's SSH session, not root's, not PID 1)
    with a service for `app` that starts only when asked (its `down` file), and `config`'s
    production environment reduced to web1, its node managed by `sv`."""
    deliver_to = yaml.safe_load(config.read_text())["environments"]["production"]["deliver_to"]
    home = sandbox.host("web1").home
    root = f"{home}/{deliver_to.removeprefix('~/')}"
    services = f"{home}/runit-{Path(root).name}"
    service = f"{services}/{app}"
    on_host(
        sandbox,
        "web1",
        f"mkdir -p {service}/log && touch {service}/down && "
        f"printf '%s' '{RUN.format(root=root, app=app)}' > {service}/run && "
        f"printf '%s' '{LOG_RUN.format(root=root)}' > {service}/log/run && "
        f"chmod +x {service}/run {service}/log/run && "
        f"(setsid runsvdir {services} </dev/null >/dev/null 2>&1 & echo $! > {services}.pid)",
    )
    deadline = time.monotonic() + 15
    while "down:" not in on_host(sandbox, "web1", f"sv status {service} 2>&1"):
        assert time.monotonic() < deadline, "runsv did not take up the service"
        time.sleep(0.2)

    def manage(data: dict[str, Any]) -> None:
        production = data["environments"]["production"]
        production["hosts"] = production["hosts"][:1]  # web1 only
        production["node"] = {
            "manager": "command",
            "start": f"sv start {services}/{{app}}",
            "stop": f"sv stop {services}/{{app}}",
            "status": f"sv status {services}/{{app}}",
        }

    edit_config(config, manage)
    try:
        yield Runit(config, root, service)
    finally:
        on_host(
            sandbox,
            "web1",
            f"sv force-stop {service} {service}/log >/dev/null 2>&1; "
            f"kill $(cat {services}.pid) 2>/dev/null; true",
        )


@pytest.fixture
def runit(sandbox: Sandbox, versions_deployment: Path) -> Iterator[Runit]:
    with supervised(sandbox, versions_deployment) as box:
        yield box


def deliver(runit: Runit, *args: str) -> str:
    result = run_cli("--config", runit.config, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_runit_supervises_the_node_through_deploy_restart_stop_start_rollback_and_a_crash(
    sandbox: Sandbox, runit: Runit
) -> None:
    deploy = ("deploy", "release", "production", "--start-deploy")
    assert "web1: started 0.1.0" in deliver(runit, *deploy, "--version=0.1.0")
    first = runit.pid(sandbox)
    assert first is not None, runit.status(sandbox)
    # the node runit supervises is the one deliver talks to: its OS pid is runsv's child
    assert f"pong (pid {first})" in deliver(runit, "ping", "production")
    assert "web1: 0.1.0" in deliver(runit, "version", "production")
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"

    assert "web1: started 0.1.1" in deliver(runit, *deploy)
    second = runit.pid(sandbox)
    assert second not in (None, first)
    assert ask_app(sandbox, "web1") == "hello 0.1.1\n"

    assert "web1: started 0.1.1" in deliver(runit, "restart", "production")
    assert runit.pid(sandbox) not in (None, second)

    assert "web1: stopped 0.1.1" in deliver(runit, "stop", "production")
    assert runit.status(sandbox).startswith("down:")
    assert run_cli("--config", runit.config, "ping", "production").exit_code == 1

    assert "web1: started 0.1.1" in deliver(runit, "start", "production")
    assert runit.status(sandbox).startswith("run:")

    assert "to 0.1.0" in deliver(runit, "rollback", "production")
    assert "web1: 0.1.0" in deliver(runit, "version", "production")
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"

    # runit really supervises it: a node that dies is started again, and deliver sees it
    killed = runit.pid(sandbox)
    on_host(sandbox, "web1", f"kill -9 {killed}")
    deadline = time.monotonic() + 30
    while "pong" not in run_cli("--config", runit.config, "ping", "production").stdout:
        assert time.monotonic() < deadline, runit.status(sandbox)
        time.sleep(0.5)
    assert runit.pid(sandbox) not in (None, killed)

    # the node's output went to svlogd in deliver_to/log, which `deliver logs` reads
    logged = deliver(runit, "logs", "production", "-n", "200", "--grep", "hello listening")
    assert logged.count("web1 | ") >= 5, logged


def test_a_hot_upgrade_keeps_the_supervised_process_and_a_restart_boots_the_new_version(
    sandbox: Sandbox, hosts: Hosts, mix_app: UpgradeApp
) -> None:
    with supervised(sandbox, hosts.config(mix_app), mix_app.name) as box:
        deliver(box, "deploy", "release", "production", "--version=0.1.0", "--start-deploy")
        supervised_pid = box.pid(sandbox)
        assert f"pong (pid {supervised_pid})" in deliver(box, "ping", "production")
        upgraded = deliver(box, "deploy", "upgrade", "production")
        assert f"web1: 0.1.0 -> 0.2.0, hot (pid {supervised_pid} kept" in upgraded
        assert box.pid(sandbox) == supervised_pid  # runit saw nothing happen
        assert hosts.ask("web1") == f"{mix_app.name} 0.2.0"
        # runit's run script boots current, which the upgrade made 0.2.0
        assert "web1: started 0.2.0" in deliver(box, "restart", "production")
        assert box.pid(sandbox) not in (None, supervised_pid)
        assert "web1: 0.2.0" in deliver(box, "version", "production")
