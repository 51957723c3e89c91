"""rpc, eval and exec on real sandbox hosts running the sample release."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.cli import ExitCode
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_rpc_eval_and_exec_on_every_host_and_the_failed_named(
    deployment: Path, tmp_path: Path
) -> None:
    started = run_cli("--config", deployment, "deploy", "release", "production", "--start-deploy")
    assert started.exit_code == 0, started.output

    rpc = run_cli("--config", deployment, "rpc", "production", "Application.spec(:hello, :vsn)")
    assert rpc.exit_code == 0, rpc.output
    assert 'web1 | ~c"0.1.0"' in rpc.stdout or "web1 | '0.1.0'" in rpc.stdout
    assert "web2 |" in rpc.stdout

    # the expression is data: quotes, $() and ; reach the node as they are, no shell sees them
    marker = tmp_path / "pwned"
    hostile = f'"it\'s $(touch {marker}); `touch {marker}`" <> "!"'
    quoted = run_cli("--config", deployment, "rpc", "production", hostile, "--host", "web1")
    assert quoted.exit_code == 0, quoted.output
    assert f'web1 | "it\'s $(touch {marker}); `touch {marker}`!"' in quoted.stdout
    assert "web2 |" not in quoted.stdout
    assert not marker.exists()

    evaluated = run_cli("--config", deployment, "eval", "production", "node()", "--host", "web1")
    assert evaluated.exit_code == 0, evaluated.output
    assert "web1 | :nonode@nohost" in evaluated.stdout  # a fresh VM, not the running node

    listed = run_cli("--config", deployment, "exec", "production", "--", "sh", "-c", 'echo "$PORT"')
    assert listed.exit_code == 0, listed.output
    ports = [line for line in listed.stdout.splitlines() if line.startswith(("web1 |", "web2 |"))]
    assert len(ports) == 2 and all(line.split("| ")[1].isdigit() for line in ports), ports

    spaced = run_cli("--config", deployment, "exec", "production", "--", "printf", "%s\n", "a b")
    assert "web1 | a b" in spaced.stdout  # one word stays one word

    assert run_cli("--config", deployment, "stop", "production", "--host", "web1").exit_code == 0
    failures_name_the_hosts_and_exit_non_zero(deployment)


def failures_name_the_hosts_and_exit_non_zero(deployment: Path) -> None:

    raised = run_cli("--config", deployment, "rpc", "production", 'raise "no"', "--host", "web2")
    assert raised.exit_code == ExitCode.FAILED
    assert "rpc failed on 1 host(s): web2" in raised.stderr
    assert "web2 | ** (RuntimeError) no" in raised.stdout  # what the node said, per host

    down = run_cli("--config", deployment, "rpc", "production", "1 + 1")
    assert down.exit_code == ExitCode.FAILED
    assert "web2 | 2" in down.stdout
    assert "rpc failed on 1 host(s): web1" in down.stderr and "succeeded on: web2" in down.stderr

    failed = run_cli("--config", deployment, "exec", "production", "--", "false")
    assert failed.exit_code == ExitCode.FAILED
    assert "web1: exit status 1 (no output)" in failed.stderr

    unknown = run_cli("--config", deployment, "rpc", "production", "1", "--host", "web9")
    assert unknown.exit_code == ExitCode.USAGE
    assert "web9" in unknown.stderr

    empty = run_cli("--config", deployment, "eval", "production", " ")
    assert empty.exit_code == ExitCode.USAGE and "Traceback" not in empty.output
