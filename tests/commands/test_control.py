"""What the node commands say about production: every host that answers, then the ones that
could not be asked; and a deploy without --start-deploy says what still runs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from deliver.cli import ExitCode
from tests.conftest import edit_config, run_cli

pytestmark = pytest.mark.slow


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_deploy_without_start_says_what_the_nodes_run(deployment: Path) -> None:
    first = run_cli("--config", deployment, "deploy", "release", "production")
    assert first.exit_code == 0, first.output
    assert "no node was started on web1, web2: deliver start production boots 0.1.0" in (
        first.stdout
    )
    assert run_cli("--config", deployment, "start", "production").exit_code == 0
    again = run_cli("--config", deployment, "deploy", "release", "production")
    assert again.exit_code == 0, again.output
    assert "no node was started" not in again.stdout  # they run the release just deployed
    assert "keep running" not in again.stdout


def test_questions_report_every_host_that_answers_then_the_unreachable(
    deployment: Path,
) -> None:
    started = run_cli("--config", deployment, "deploy", "release", "production", "--start-deploy")
    assert started.exit_code == 0, started.output
    port = dead_port()

    def add_a_dead_host(data: dict[str, Any]) -> None:
        data["environments"]["production"]["hosts"].append({"host": f"127.0.0.1:{port}"})

    good = deployment.read_text()
    edit_config(deployment, add_a_dead_host)
    try:
        ask_every_host(deployment, port)
    finally:
        deployment.write_text(good)  # so that the fixture can stop the nodes again


def ask_every_host(deployment: Path, port: int) -> None:
    version = run_cli("--config", deployment, "version", "production")
    assert version.exit_code == ExitCode.UNREACHABLE
    assert "web1: 0.1.0" in version.stdout and "web2: 0.1.0" in version.stdout
    assert f"asking the version failed on 1 host(s): 127.0.0.1:{port}" in version.stderr
    assert "succeeded on: web1, web2" in version.stderr
    ping = run_cli("--config", deployment, "ping", "production")
    assert "web1: pong" in ping.stdout and ping.exit_code == ExitCode.UNREACHABLE
    listed = run_cli("--config", deployment, "show", "releases", "production")
    assert listed.exit_code == ExitCode.UNREACHABLE
    assert "web1  0.1.0" in listed.stdout and "web2  0.1.0" in listed.stdout
    assert f"reading releases failed on 1 host(s): 127.0.0.1:{port}" in listed.stderr


def test_start_runs_the_health_check_like_a_restart(deployment: Path) -> None:
    def health(url: str) -> None:
        edit_config(deployment, lambda data: data.update(health_check={"url": url, "retries": 1}))

    assert run_cli("--config", deployment, "deploy", "release", "production").exit_code == 0
    health("http://127.0.0.1:1/")  # nothing listens there
    sick = run_cli("--config", deployment, "start", "production", "--host", "web1")
    assert sick.exit_code == 1
    assert "web1: health check failed: http://127.0.0.1:1/ did not answer" in sick.stderr
    health("http://127.0.0.1:{PORT}/")
    well = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert well.exit_code == 0, well.output
    assert "web2: started 0.1.0 (pid" in well.stdout and "/ answered 200" in well.stdout
    history = run_cli("--config", deployment, "show", "releases", "production").stdout
    assert [line.split()[3] for line in history.splitlines() if line.startswith("web1")] == [
        "failed"
    ]
