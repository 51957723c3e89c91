"""rollback and show releases on two real sandbox hosts, with two real releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_rollback_to_the_previous_and_to_a_given_release(
    sandbox: Sandbox, versions_deployment: Path
) -> None:
    config = versions_deployment
    deliver_to = config.read_text().split("deliver_to: ")[1].split()[0]
    # 0.1.0 is only switched to, never started: a release deployed that way is good too
    first = run_cli("--config", config, "deploy", "release", "production", "--version=0.1.0")
    assert first.exit_code == 0, first.output
    second = run_cli("--config", config, "deploy", "release", "production", "--start-deploy")
    assert second.exit_code == 0, second.output
    shown = run_cli("--config", config, "show", "releases", "production")
    rows = [line.split()[:3] for line in shown.stdout.splitlines()]
    assert rows == [
        ["HOST", "RELEASE", "STATE"],
        ["web1", "0.1.1", "current,running"],
        ["web1", "0.1.0", "previous"],
        ["web2", "0.1.1", "current,running"],
        ["web2", "0.1.0", "previous"],
    ]
    assert "disagree" not in shown.stderr

    back = run_cli("--config", config, "rollback", "production")
    assert back.exit_code == 0, back.output
    assert "Rolled back hello on production to 0.1.0" in back.stdout
    assert ask_app(sandbox, "web1") == ask_app(sandbox, "web2") == "hello 0.1.0\n"

    # 0.1.1 was rolled back from: a second rollback has nowhere good to go
    again = run_cli("--config", config, "rollback", "production")
    assert again.exit_code == 1
    assert "rollback preflight failed on 2 host(s): web1, web2" in again.stderr
    assert (
        "no earlier release that ran well is on this host (besides 0.1.0: 0.1.1 rolled_back)"
        in (again.stderr)
    )
    assert "nothing was changed on any host" in again.stderr

    forward = run_cli("--config", config, "rollback", "production", "--version=0.1.1")
    assert forward.exit_code == 0, forward.output
    assert ask_app(sandbox, "web1") == ask_app(sandbox, "web2") == "hello 0.1.1\n"

    on_host(sandbox, "web2", f"rm -rf {deliver_to}/releases/0.1.0")
    refused = run_cli("--config", config, "rollback", "production", "--version=0.1.0")
    assert refused.exit_code == 1
    assert "web2: 0.1.0 is not on this host (it has 0.1.1)" in refused.stderr
    assert "succeeded on: web1" in refused.stderr
    assert on_host(sandbox, "web1", f"readlink {deliver_to}/current") == "releases/0.1.1"
    assert ask_app(sandbox, "web1") == "hello 0.1.1\n"
