"""`deliver systemd unit` and the systemd manager on real sandbox hosts. These containers have
no systemd as PID 1: the unit is checked with the real `systemd-analyze verify` against the
host's real deliver_to, --install writes it where a user's systemd reads it and then says
plainly that systemd could not be reached, and a start names the host and the systemctl
command that failed."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import edit_config, run_cli

pytestmark = pytest.mark.slow


def systemd(config: Path, **node: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        data["environments"]["production"]["node"] = {"manager": "systemd", **node}
        data["environments"]["production"]["env"] = {"GREETING": 'say "hi" $USER'}

    edit_config(config, change)


def test_the_unit_of_each_host_verifies_and_a_start_writes_its_env_file(
    sandbox: Sandbox, deployment: Path, tmp_path: Path
) -> None:
    systemd(deployment)
    deployed = run_cli("--config", deployment, "deploy", "release", "production")
    assert deployed.exit_code == 0, deployed.output
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    root = Path(sandbox.host("web1").home) / deliver_to.removeprefix("~/")
    printed = run_cli("--config", deployment, "systemd", "unit", "production")
    assert printed.exit_code == 0, printed.output
    # every host has its own home, so each unit is printed under its host's name
    assert "# on web1\n" in printed.stdout and "# on web2\n" in printed.stdout
    unit = printed.stdout.split("# on web2\n")[0].split("# on web1\n")[1]
    assert f"ExecStart={root}/current/bin/hello start\n" in unit
    assert f"User={sandbox.user}\n" in unit
    (tmp_path / "hello.service").write_text(unit)
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "hello.service")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr

    # a dry run shows the commands a real restart would send: systemctl's
    dry = run_cli("--config", deployment, "--debug", "restart", "production", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "systemctl stop hello.service" in dry.stderr
    assert "systemctl start hello.service" in dry.stderr

    # no systemd here: the start fails on every host, naming it and the command
    started = run_cli("--config", deployment, "start", "production")
    assert started.exit_code == 1
    assert "start failed on 2 host(s): web1, web2" in started.stderr
    assert "web1: `systemctl start hello.service` failed, the node is not started:" in (
        started.stderr
    )
    assert "System has not been booted with systemd" in started.stderr
    assert "Traceback" not in started.output
    # before systemctl, the start made the unit's env file from deliver.env
    env_file = root / "deliver.systemd.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert 'GREETING="say \\"hi\\" \\$USER"\n' in env_file.read_text()
    assert f'PORT="{sandbox.host("web1").app_port}"\n' in env_file.read_text()


def test_install_writes_a_user_unit_on_every_host_then_names_what_systemd_refused(
    sandbox: Sandbox, deployment: Path
) -> None:
    systemd(deployment, unit="hello-web", user_unit=True)
    installed = run_cli("--config", deployment, "systemd", "unit", "production", "--install")
    assert installed.exit_code == 1
    assert "writing the unit failed on 2 host(s): web1, web2" in installed.stderr
    assert (
        "web1: wrote ~/.config/systemd/user/hello-web.service, but `systemctl --user "
        "daemon-reload` and `systemctl --user enable hello-web.service` failed: run them there "
        "once systemd runs"
    ) in installed.stderr
    assert "Failed to connect to bus" in installed.stderr
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0].removeprefix("~/")
    for host in ("web1", "web2"):
        home = Path(sandbox.host(host).home)
        unit = home / ".config" / "systemd" / "user" / "hello-web.service"
        assert "WantedBy=default.target" in unit.read_text()
        assert "User=" not in unit.read_text()
        assert list((home / deliver_to).glob(".hello-web.service.new")) == []  # no leftovers
        # nothing is deployed yet, so there is no deliver.env to make it from
        assert (home / deliver_to / "deliver.systemd.env").read_text() == ""

    daemon = run_cli("--config", deployment, "systemd", "unit", "production", "--host", "web1")
    assert daemon.exit_code == 0  # printing needs no systemd
    edit_config(deployment, lambda data: data["environments"]["production"].pop("node"))
    refused = run_cli("--config", deployment, "systemd", "unit", "production", "--install")
    assert refused.exit_code == 2
    assert "web1, web2 of production do not use node.manager: systemd" in refused.stderr
