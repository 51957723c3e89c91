"""`deliver status` on real sandbox hosts: what each runs, who deployed, the lock, drift, and
the hosts that cannot be reached."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from deliver.cli import ExitCode
from deliver.commands.lock import whoami
from tests.conftest import edit_config, run_cli

pytestmark = pytest.mark.slow


def row(stdout: str, host: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"{host} "))


def test_status_shows_what_every_host_runs_and_flags_drift(versions_deployment: Path) -> None:
    config = ("--config", versions_deployment)
    first = run_cli(*config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy")
    assert first.exit_code == 0, first.output
    # web2 gets 0.1.1 without a restart: it runs 0.1.0 still, and disagrees with web1
    second = run_cli(
        *config, "deploy", "release", "production", "--version=0.1.1", "--host", "web2"
    )
    assert second.exit_code == 0, second.output
    assert run_cli(*config, "lock", "acquire", "production", "-m", "db work").exit_code == 0
    try:
        drifted = run_cli(*config, "status", "production")
        events = run_cli(*config, "status", "production", "--json")
    finally:
        run_cli(*config, "lock", "release", "production")
    assert drifted.exit_code == 0, drifted.output
    web1 = row(drifted.stdout, "web1")
    assert web1.split()[:6] == ["web1", "yes", "0.1.0", "0.1.0", "0.1.0", "pid"], web1
    assert " up " in web1 and f" by {whoami()}" in web1  # the last deploy, and who made it
    web2 = row(drifted.stdout, "web2")
    assert web2.split()[:6] == ["web2", "yes", "0.1.1", "0.1.0", "0.1.0", "pid"], web2
    assert "runs 0.1.0, current is 0.1.1: a restart boots 0.1.1" in web2 and "DRIFT" in web2
    assert f"{whoami()} (locked: db work)" in web2
    assert "drift: the hosts do not all run the same release" in drifted.stderr

    rows = {
        e["host"]: e for e in map(json.loads, events.stdout.splitlines()) if e["event"] == "status"
    }
    assert rows["web2"]["current"] == "0.1.1" and rows["web2"]["node"]["version"] == "0.1.0"
    assert rows["web2"]["disagrees"] and rows["web2"]["drift"] and not rows["web1"]["disagrees"]
    assert rows["web1"]["last_deploy"]["version"] == "0.1.0"
    assert rows["web1"]["lock"]["command"] == "locked: db work"
    assert isinstance(rows["web1"]["node"]["pid"], int)


def test_an_unreachable_host_is_a_row_and_exit_3(versions_deployment: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def add_a_dead_host(data: dict[str, Any]) -> None:
        data["environments"]["production"]["hosts"].append({"host": f"127.0.0.1:{port}"})

    edit_config(versions_deployment, add_a_dead_host)
    result = run_cli("--config", versions_deployment, "status", "production")
    assert result.exit_code == ExitCode.UNREACHABLE, result.output
    assert row(result.stdout, "web1").split()[:3] == ["web1", "yes", "-"]  # nothing deployed
    assert "nothing deployed" in row(result.stdout, "web1")
    assert row(result.stdout, f"127.0.0.1:{port}").split()[1] == "no"
    assert f"status failed on 1 host(s): 127.0.0.1:{port}" in result.stderr
