"""Rolling restarts: batches, and a batch that fails its health check stops the rollout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import edit_config, host_entry, run_cli


def pong_pids(config: Path) -> dict[str, str]:
    result = run_cli("--config", config, "ping", "production")
    return dict(re.findall(r"(web\d): pong \(pid (\d+)\)", result.stdout))


@pytest.mark.slow
def test_unhealthy_batch_stops_the_rollout_and_later_hosts_are_untouched(
    sandbox: Sandbox, versions_deployment: Path
) -> None:
    config = versions_deployment
    deliver_to = config.read_text().split("deliver_to: ")[1].split()[0]
    first = run_cli(
        "--config", config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"
    )
    assert first.exit_code == 0, first.output
    before = pong_pids(config)

    # web2 goes first and its health URL answers 404; web1's is fine
    def health_check(data: dict[str, Any]) -> None:
        hosts = data["environments"]["production"]["hosts"]
        hosts.reverse()
        host_entry(data, "web2")["env"]["HEALTH_PATH"] = "/missing"
        host_entry(data, "web1")["env"]["HEALTH_PATH"] = "/"
        data["health_check"] = {
            "url": "http://127.0.0.1:{PORT}{HEALTH_PATH}",
            "retries": 2,
            "interval": 0.2,
        }

    edit_config(config, health_check)
    # rolling web2 back would fail its health check too: this case is about the hosts left alone
    rolled = run_cli(
        "--config",
        config,
        "deploy",
        "release",
        "production",
        "--start-deploy",
        "--batch=1",
        "--no-rollback-on-failure",
    )
    assert rolled.exit_code == 1
    web2_port = sandbox.host("web2").app_port
    assert "restart failed on 1 host(s): web2" in rolled.stderr
    assert (
        f"web2: health check failed: http://127.0.0.1:{web2_port}/missing answered 404 "
        "(2 attempts)" in rolled.stderr
    )
    assert "stopped the rollout; not touched: web1" in rolled.stderr
    assert "batch 2/2" not in rolled.stdout
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"
    assert on_host(sandbox, "web1", f"readlink {deliver_to}/current") == "releases/0.1.0"
    assert ask_app(sandbox, "web2") == "hello 0.1.1\n"
    after = pong_pids(config)
    assert after["web1"] == before["web1"] and after["web2"] != before["web2"]

    restarted = run_cli("--config", config, "restart", "production", "--batch=50%")
    assert restarted.exit_code == 1
    assert "restart failed on 1 host(s): web2" in restarted.stderr
    assert "not touched: web1" in restarted.stderr
    # rollback_on_failure is on, but web2 ran 0.1.1 before: nothing older replaces it
    assert "not switched back (no other release before): web2" in restarted.stderr
    assert pong_pids(config)["web1"] == before["web1"]
