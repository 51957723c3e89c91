"""The newcomer's path, end to end: a fresh `mix new --sup` app in a new git repository,
`deliver init` with flags (no terminal), `deliver check config --hosts`, `deliver build
release`, `deliver deploy release to production --start-deploy` on sandbox hosts, and the nodes
answer. Nothing is edited by hand: the hosts are named on init's command line, and the
machine's ~/.ssh knows them (as a newcomer's would)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import git, run_cli


def _ssh_setup(sandbox: Sandbox) -> None:
    """The newcomer's ~/.ssh: an entry per host and their host keys."""
    ssh = Path.home() / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "config").write_text(sandbox.ssh_config.read_text())
    shutil.copy(sandbox.known_hosts, ssh / "known_hosts")


@pytest.mark.slow
def test_a_fresh_mix_app_reaches_a_running_deploy_with_init_and_three_commands(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(
        ["mix", "new", "newcomer", "--sup"], cwd=tmp_path, check=True, capture_output=True
    )
    app = tmp_path / "newcomer"
    git(app, "init", "-q", "-b", "main")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "mix new newcomer --sup")
    _ssh_setup(sandbox)
    monkeypatch.chdir(app)
    hosts = [h.name for h in sandbox.targets]

    init = run_cli(
        "init", "--build-host", sandbox.build_host.name,
        *[word for host in hosts for word in ("--host", host)],
        "--deliver-to", "~/newcomer",
    )  # fmt: skip
    assert init.exit_code == 0, init.output
    assert "deliver check config --hosts" in init.stdout
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "deliver init")

    checked = run_cli("check", "config", "--hosts")
    assert checked.exit_code == 0, checked.output
    built = run_cli("build", "release")
    assert built.exit_code == 0, built.output
    try:
        deployed = run_cli("deploy", "release", "to", "production", "--start-deploy")
        assert deployed.exit_code == 0, deployed.output
        pinged = run_cli("ping", "production")
        assert pinged.exit_code == 0, pinged.output
        for host in hosts:
            assert f"{host}: " in pinged.stdout
        version = run_cli("--json", "version", "production")
        assert version.exit_code == 0, version.output
        events = [json.loads(line) for line in version.stdout.splitlines()]
        reported = {e["host"]: e["version"] for e in events if e["event"] == "host"}
        assert reported == dict.fromkeys(hosts, "0.1.0")
    finally:
        run_cli("stop", "production")
