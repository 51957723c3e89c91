"""What deliver prints: secrets are masked in every line, whichever way they got there."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import pytest

from deliver.output import Output
from deliver.sandbox import Sandbox
from deliver.shell import Secret
from tests.commands.test_deploy import on_host
from tests.conftest import edit_config, run_cli


def test_every_kind_of_line_masks_secrets() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stdout, stderr, verbose=True, color=False)
    out.secrets = [Secret("hunter2"), Secret("[b]x")]
    out.step("step hunter2")
    out.info("info hunter2")
    out.detail("detail hunter2")
    out.host_status("web1", True, "status hunter2 [b]x")
    out.warning("warning hunter2")
    out.error("error hunter2", "hint hunter2")
    out.remote_output("web1", "output hunter2")
    out.remote_command("web1", "command hunter2")
    out.table(("A", "B"), [("hunter2", "[b]x")])
    printed = stdout.getvalue() + stderr.getvalue()
    assert "hunter2" not in printed and "[b]x" not in printed
    assert printed.count("****") == 12


@pytest.mark.slow
def test_a_secret_from_the_environment_never_appears_in_any_output(
    sandbox: Sandbox, deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-" + secrets.token_hex(8)
    monkeypatch.setenv("HELLO_API_TOKEN", secret)

    def use_the_secret_everywhere(data: dict[str, Any]) -> None:
        data["environments"]["production"]["env"] = {"API_TOKEN": "${HELLO_API_TOKEN}"}
        # curl does not send the fragment: the check passes, and its command holds the secret
        data["health_check"] = {"url": "http://127.0.0.1:{PORT}/#{API_TOKEN}"}
        data["migrations"] = {
            "status": 'IO.puts(System.fetch_env!("API_TOKEN"))',
            "up": 'raise "bad token: " <> System.fetch_env!("API_TOKEN")',
        }

    edit_config(deployment, use_the_secret_everywhere)
    flags = ("--config", deployment, "--debug", "--verbose")
    deployed = run_cli(*flags, "deploy", "release", "production", "--start-deploy", "--host=web1")
    status = run_cli(*flags, "show", "migrations", "production")
    failed = run_cli(*flags, "migrate", "production")
    checked = run_cli(*flags, "check", "config")

    assert deployed.exit_code == 0, deployed.output
    assert "curl -s -o /dev/null" in deployed.stderr  # --debug showed the health check command
    assert status.exit_code == 0 and "web1 | ****" in status.stdout
    assert failed.exit_code == 1 and "bad token: ****" in failed.stderr
    assert "Traceback" in failed.stderr  # --debug
    assert checked.exit_code == 0
    for result in (deployed, status, failed, checked):
        assert secret not in result.output
    # it did reach the host, in the 0600 env file
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    assert f"export API_TOKEN={secret}" in on_host(sandbox, "web1", f"cat {deliver_to}/deliver.env")
