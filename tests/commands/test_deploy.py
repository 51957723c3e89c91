"""deploy, start, ping, version, stop on two real sandbox hosts with the real sample release."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def ask_app(sandbox: Sandbox, host: str, path: str = "/") -> str:
    url = f"http://127.0.0.1:{sandbox.host(host).app_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def on_host(sandbox: Sandbox, host: str, command: str) -> str:
    return subprocess.run(
        ["ssh", "-F", str(sandbox.ssh_config), host, command], capture_output=True, text=True
    ).stdout.strip()


def test_deploy_start_ping_version_stop(sandbox: Sandbox, deployment: Path) -> None:
    result = run_cli(
        "--config", deployment, "deploy", "release", "to", "production", "--start-deploy"
    )
    assert result.exit_code == 0, result.output
    assert "Switching to 0.1.0" in result.stdout
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"
    assert ask_app(sandbox, "web2") == "hello 0.1.0\n"

    ping = run_cli("--config", deployment, "ping", "production")
    assert ping.exit_code == 0, ping.output
    assert "web1: pong (pid" in ping.stdout and "web2: pong (pid" in ping.stdout
    version = run_cli("--config", deployment, "version", "production")
    assert "web1: 0.1.0" in version.stdout and "web2: 0.1.0" in version.stdout

    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    env_file = on_host(
        sandbox, "web1", f"stat -c %a {deliver_to}/deliver.env; cat {deliver_to}/deliver.env"
    )
    assert env_file == f"600\nexport PORT={sandbox.host('web1').app_port}"
    assert on_host(sandbox, "web2", f"readlink {deliver_to}/current") == "releases/0.1.0"

    stop = run_cli("--config", deployment, "stop", "production")
    assert stop.exit_code == 0, stop.output
    assert "web1: stopped 0.1.0" in stop.stdout
    down = run_cli("--config", deployment, "ping", "production")
    assert down.exit_code == 1
    assert "pinging failed on 2 host(s): web1, web2" in down.stderr
    assert "web1: not running (0.1.0 is deployed)" in down.stderr
    asked = run_cli("--config", deployment, "version", "production")
    assert asked.exit_code == 1
    assert "error: asking the version failed on 2 host(s): web1, web2" in asked.stderr


def test_host_filter_and_no_second_upload(sandbox: Sandbox, deployment: Path) -> None:
    first = run_cli("--config", deployment, "deploy", "release", "production", "--host", "web1")
    assert first.exit_code == 0, first.output
    assert "Uploading to 1 host(s)" in first.stdout
    second = run_cli("--config", deployment, "deploy", "release", "production")
    assert "Uploading to 1 host(s) and extracting (1 already had the archive)" in second.stdout

    started = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert started.exit_code == 0, started.output
    assert "web2: started 0.1.0" in started.stdout and "web1" not in started.stdout
    again = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert "web2: already running 0.1.0" in again.stdout
    ping = run_cli("--config", deployment, "ping", "production")
    assert ping.exit_code == 1 and "web1: not running" in ping.stderr
    assert "succeeded on: web2" in ping.stderr

    unknown = run_cli("--config", deployment, "ping", "production", "--host", "web9")
    assert unknown.exit_code == 2 and "--host web9: not a host of production" in unknown.stderr


def test_unreachable_host_is_named_and_no_host_is_switched(
    sandbox: Sandbox, deployment: Path
) -> None:
    text = deployment.read_text().replace("    hosts:\n", "    hosts:\n      - 127.0.0.1:1\n")
    deployment.write_text(text)
    result = run_cli("--config", deployment, "deploy", "release", "production")
    assert result.exit_code == 3
    assert "connect failed on 1 host(s): 127.0.0.1:1" in result.stderr
    assert "connection refused" in result.stderr and "Traceback" not in result.output
    deliver_to = text.split("deliver_to: ")[1].split()[0]
    assert on_host(sandbox, "web1", f"ls {deliver_to} 2>&1 || true").endswith(
        "No such file or directory"
    )


def test_node_that_crashes_on_start_is_reported_with_its_log(
    sandbox: Sandbox, deployment: Path
) -> None:
    # port 1 needs privileges root has, so take a port that is already listening: web1's sshd
    text = deployment.read_text()
    web1 = sandbox.host("web1")
    deployment.write_text(text.replace(f'PORT: "{web1.app_port}"', f'PORT: "{web1.port}"'))
    result = run_cli(
        "--config",
        deployment,
        "deploy",
        "release",
        "production",
        "--start-deploy",
        "--host",
        "web1",
    )
    assert result.exit_code == 1
    assert "start failed on 1 host(s): web1" in result.stderr
    assert "0.1.0 crashed while starting; last lines of its log:" in result.stderr
    assert "eaddrinuse" in result.stderr

    # the crash stays in the log, but only this boot's lines decide: a good start is "started"
    # (the env file is written by deploy, so the right PORT needs a deploy)
    deployment.write_text(text)
    again = run_cli(
        "--config",
        deployment,
        "deploy",
        "release",
        "production",
        "--start-deploy",
        "--host",
        "web1",
    )
    assert again.exit_code == 0, again.output
    assert "web1: started 0.1.0 (pid" in again.stdout
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"


def test_a_switch_failing_on_one_host_says_which_hosts_switched(
    sandbox: Sandbox, deployment: Path
) -> None:
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    # a directory named current cannot be replaced by the new link: web2's switch fails
    on_host(sandbox, "web2", f"mkdir -p {deliver_to}/current/keep")
    result = run_cli("--config", deployment, "deploy", "release", "production")
    assert result.exit_code == 1
    assert "switch failed on 1 host(s): web2" in result.stderr
    assert "hint: web1 switched (current points at the new release" in result.stderr
    assert "web2 did not: fix that and run the same command again" in result.stderr
    assert on_host(sandbox, "web1", f"readlink {deliver_to}/current") == "releases/0.1.0"
