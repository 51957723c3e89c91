"""The sandbox: real sshd processes, and everything started through them stopped again."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from deliver.config.load import load_config
from deliver.errors import DeliverError
from deliver.sandbox import Sandbox, _alive, load_sandbox, start_sandbox, stop_sandbox
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
    survivors = {p: Path(f"/proc/{p}/stat").read_text() for p in [sleeper, *sshd] if _alive(p)}
    assert not survivors
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
    assert "deliver sandbox --dir DIR config ... (or DELIVER_SANDBOX=DIR)" in missing.stderr
    assert os.listdir(directory)  # keys stay for the next `up`


def test_store_host_is_trusted_by_the_other_hosts(tmp_path: Path) -> None:
    directory = tmp_path / "box"
    up = run_cli("sandbox", "--dir", directory, "up", "--targets", "1", "--store")
    assert up.exit_code == 0, up.output
    try:
        box = load_sandbox(directory)
        assert box is not None and box.store_host is not None
        assert [h.name for h in box.targets] == ["web1"]
        config = run_cli("sandbox", "--dir", directory, "config", "--app", "hello")
        assert "release_store: store:releases\n" in config.stdout
        # the way deliver's commands on a host reach the store: batch mode, strict host keys
        login = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes store 'echo $HOME'"
        for host in ("build", "web1"):
            reached = subprocess.run(
                ["ssh", "-F", str(box.ssh_config), host, login],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert reached.stdout.strip() == box.store_host.home, reached.stderr
    finally:
        run_cli("sandbox", "--dir", directory, "down")


def test_config_with_staging_and_a_health_check(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / ".deliver"
    path.write_text(sandbox.deliver_config("hello", staging=1, health_check=True))
    config = load_config(path, environ={})
    assert [h.name for h in config.environment("staging").hosts] == ["web1"]
    assert [h.name for h in config.environment("production").hosts] == ["web2"]
    assert config.health_check.url == "http://127.0.0.1:{PORT}/"
    with pytest.raises(DeliverError, match="production needs one"):
        sandbox.deliver_config("hello", staging=2)
