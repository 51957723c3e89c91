"""`deliver logs` on real sandbox hosts running real nodes: the logs live in deliver_to/log and
outlive a pruned release; -n, --grep, --host; -f follows until Ctrl-C and ends cleanly."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import on_host
from tests.conftest import edit_config, run_cli

pytestmark = pytest.mark.slow


def deliver(config: Path, *args: str) -> str:
    result = run_cli("--config", config, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def lines_of(stdout: str, host: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"{host} | ")]


def test_logs_outlive_a_pruned_release_and_answer_n_grep_host_and_follow(
    sandbox: Sandbox, versions_deployment: Path
) -> None:
    config = versions_deployment
    deliver_to = config.read_text().split("deliver_to: ")[1].split()[0]

    def keep_one(data: dict[str, Any]) -> None:
        data["keep_releases"] = 1

    edit_config(config, keep_one)
    deploy = ("deploy", "release", "production", "--start-deploy")
    deliver(config, *deploy)  # 0.1.1
    deliver(config, *deploy, "--version=0.1.0")
    deliver(config, "rollback", "production")  # back to 0.1.1: 0.1.0 is no longer good
    deliver(config, "deploy", "release", "production", "--version=0.1.1")  # prunes 0.1.0
    assert on_host(sandbox, "web1", f"ls -d {deliver_to}/releases/0.1.*/").endswith("/0.1.1/")

    # three boots per host, one of them 0.1.0's, whose release directory is gone
    booted = deliver(config, "logs", "production", "-n", "100", "--grep", "hello listening")
    for host in ("web1", "web2"):
        port = sandbox.host(host).app_port
        assert len(lines_of(booted, host)) == 3, booted
        assert all(
            f"hello listening on 127.0.0.1:{port}" in line for line in lines_of(booted, host)
        )
    assert deliver(config, "logs", "production", "--grep", "no such line") == ""

    last = deliver(config, "logs", "production", "-n", "1")
    assert len(lines_of(last, "web1")) == len(lines_of(last, "web2")) == 1
    only = deliver(config, "logs", "production", "--host", "web2", "-n", "5")
    assert len(lines_of(only, "web2")) == 5 and not lines_of(only, "web1")

    since = run_cli("--config", config, "logs", "production", "--since", "1 hour ago")
    assert since.exit_code == 2
    assert since.stderr.startswith(
        "error: --since=1 hour ago: works with the journal only (node.manager: systemd), "
        "and web1, web2 log to files"
    )
    follow_until_ctrl_c(sandbox, config)


def follow_until_ctrl_c(sandbox: Sandbox, deployment: Path) -> None:
    """-f prints the last lines, then new ones as they come; Ctrl-C ends it with exit 0 and
    no traceback, and the remote follower goes too."""
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    log_dir = f"{sandbox.host('web1').home}/{deliver_to.removeprefix('~/')}/log"
    command = [sys.executable, "-m", "deliver", "--config", str(deployment), "logs"]
    follower = subprocess.Popen(
        [*command, "production", "--host", "web1", "-f", "-n", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in follower.stdout], daemon=True).start()  # type: ignore[union-attr]

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=0.5):
                    return
            except queue.Empty:
                continue
        follower.kill()
        pytest.fail(f"no line with {text!r} from deliver logs -f")

    try:
        wait_for("web1 | ")  # the last lines first
        on_host(sandbox, "web1", f"echo followed-line-42 >> {log_dir}/erlang.log.1")
        wait_for("web1 | followed-line-42")
    finally:
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=20)
    assert follower.returncode == 0, stderr
    assert "Traceback" not in stderr
    # the remote follower went with the connection
    deadline = time.monotonic() + 10
    while on_host(sandbox, "web1", f"pgrep -f -- '[t]ail -q -n 0 -F -- {log_dir}' || true"):
        assert time.monotonic() < deadline, "tail -F still runs on web1"
        time.sleep(0.3)
