"""The sandbox: real sshd processes, and everything started through them stopped again."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from deliver.sandbox import _alive, load_sandbox, start_sandbox, stop_sandbox
from tests.conftest import run_cli


def test_down_stops_sshd_and_what_sessions_left_running(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "box", targets=1)
    assert load_sandbox(tmp_path / "box") == box
    ssh = ["ssh", "-F", str(box.ssh_config), "web1"]
    # a daemon detached from the session, like an Erlang node or epmd
    subprocess.run(
        [*ssh, "setsid sleep 300 >/dev/null 2>&1 < /dev/null & echo $! > ~/pid"],
        check=True,
        timeout=20,
    )
    sleeper = int((Path(box.host("web1").home) / "pid").read_text())
    sshd = [int(p.read_text()) for p in (tmp_path / "box").glob("hosts/*/sshd.pid")]
    assert _alive(sleeper) and all(_alive(pid) for pid in sshd)

    stop_sandbox(tmp_path / "box")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in [sleeper, *sshd]):
        time.sleep(0.05)
    assert not any(_alive(p) for p in [sleeper, *sshd])
    assert load_sandbox(tmp_path / "box") is None


def test_cli_up_config_down(tmp_path: Path) -> None:
    directory = tmp_path / "box"
    up = run_cli("sandbox", "--dir", directory, "up", "--targets", "1")
    assert up.exit_code == 0, up.output
    assert "web1" in up.stdout
    config = run_cli("sandbox", "--dir", directory, "config", "--app", "hello")
    assert "deliver_to: ~/app" in config.stdout and f"known_hosts: {directory}" in config.stdout
    down = run_cli("sandbox", "--dir", directory, "down")
    assert down.exit_code == 0
    missing = run_cli("sandbox", "--dir", directory, "config", "--app", "hello")
    assert missing.exit_code == 2 and "no sandbox in" in missing.stderr
    assert os.listdir(directory)  # keys stay for the next `up`
