"""remote_console through a real pseudo-terminal (pexpect), on a real sandbox host."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pexpect
import pytest

from deliver.cli import ExitCode
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def console(deployment: Path, *args: str) -> pexpect.spawn:
    command = ["-m", "deliver", "--config", str(deployment), "remote_console", "production"]
    return pexpect.spawn(
        sys.executable, [*command, *args], timeout=30, dimensions=(40, 120), encoding="utf-8"
    )


def test_remote_console_evaluates_in_the_node_and_quits_cleanly(deployment: Path) -> None:
    assert run_cli("--config", deployment, "deploy", "release", "production").exit_code == 0
    down = run_cli("--config", deployment, "remote_console", "production")
    assert down.exit_code == ExitCode.FAILED
    assert "web1: not running (0.1.0 is deployed)" in down.stderr  # web1: the primary host
    assert "Traceback" not in down.output

    started = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert started.exit_code == 0, started.output
    ping = run_cli("--config", deployment, "ping", "production", "--host", "web2")
    node_pid = re.search(r"web2: pong \(pid (\d+)\)", ping.stdout)
    assert node_pid, ping.output

    shell = console(deployment, "--host", "web2")
    shell.expect(r"iex\(hello@[^)]*\)1> ")
    shell.sendline(
        'IO.puts("pid=#{System.pid()} apps=#{length(Application.started_applications())}")'
    )
    shell.expect(r"pid=(\d+) apps=(\d+)")
    assert shell.match.group(1) == node_pid.group(1)  # the running node, not a fresh VM
    shell.expect(r"iex\(hello@[^)]*\)2> ")
    shell.sendcontrol("\\")  # quits the remote shell, as in `bin/hello remote`
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0
    after = run_cli("--config", deployment, "ping", "production", "--host", "web2")
    assert f"web2: pong (pid {node_pid.group(1)})" in after.stdout  # the node kept running
