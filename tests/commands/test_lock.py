"""The deploy lock against real sandbox hosts: a second deploy is refused naming the holder,
a maintenance lock blocks everyone until released, --lock-wait waits, a stale lock says so
and --force breaks it, read-only commands never wait, and the audit log records it all."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from deliver.host.lock import LockInfo
from deliver.sandbox import Sandbox
from tests.conftest import edit_config, run_cli

DELIVER = Path(sys.executable).parent / "deliver"


def test_the_audit_log_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    from deliver.config import HostSpec
    from deliver.host.lock import audit, audit_tail
    from deliver.transport.local import LocalRemote

    outside = tmp_path / "authorized_keys"
    outside.write_text("the real keys\n")
    root = tmp_path / "app"
    root.mkdir()
    (root / "deliver.audit").symlink_to(outside)
    remote = LocalRemote(HostSpec.parse("localhost"))
    audit(remote, str(root), "2026-12-01T10:00:00+0000 alice@laptop deploy release 0.2.0: ok")
    assert outside.read_text() == "the real keys\n"
    assert not (root / "deliver.audit").is_symlink()
    assert audit_tail(remote, str(root), 5) == [
        "2026-12-01T10:00:00+0000 alice@laptop deploy release 0.2.0: ok"
    ]


def test_a_message_cannot_add_a_field_to_the_lock_info() -> None:
    info = LockInfo("alice@laptop", 7, "locked: db\nTOKEN=forged\nHOLDER=bob", 1, 2, "t0k")
    lines = info.lines().splitlines()
    assert [line for line in lines if line.startswith(("TOKEN=", "HOLDER="))] == [
        "HOLDER=alice@laptop",
        "TOKEN=t0k",
    ]
    parsed = LockInfo.parse(info.lines())
    assert parsed.holder == "alice@laptop"
    assert parsed.command == "locked: db TOKEN=forged HOLDER=bob"


def test_lock_info_from_a_hostile_host_is_cleaned() -> None:
    info = LockInfo.parse("HOLDER=eve\x1b]0;pwned\x07@x\nPID=12a\nCOMMAND=$(id)\nSINCE=5\n")
    assert info.holder == "eve??0?pwned?@x" and info.pid == 0
    assert info.command == "?(id)" and info.since == 5 and info.expires == 0


@pytest.mark.slow
def test_a_second_deploy_is_refused_while_the_first_holds_the_lock(
    sandbox: Sandbox, deployment: Path
) -> None:
    def slow_extract(data: dict[str, Any]) -> None:
        data["hooks"] = {"pre_extract": "sleep 4"}  # holds the lock for a while

    edit_config(deployment, slow_extract)
    command = [str(DELIVER), "--config", str(deployment), "deploy", "release", "production"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    second = subprocess.run(command, capture_output=True, text=True)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert second.returncode == 1, second.stdout + second.stderr
    assert "production is locked by" in second.stderr
    assert "(deploy release 0.1.0)" in second.stderr
    assert "deliver lock release production --force" in second.stderr
    # the refused deploy changed nothing and left no lock behind: the next one goes through
    assert (
        run_cli("--config", deployment, "lock", "status", "production").stdout.count("not locked")
        == 2
    )
    audit = run_cli("--config", deployment, "audit", "production").stdout
    assert "deploy release 0.1.0: ok" in audit


@pytest.mark.slow
def test_maintenance_wait_stale_and_force(sandbox: Sandbox, deployment: Path) -> None:
    config = ("--config", deployment)
    taken = run_cli(*config, "lock", "acquire", "production", "-m", "db maintenance")
    assert taken.exit_code == 0, taken.output
    refused = run_cli(*config, "restart", "production")
    assert refused.exit_code == 1
    assert "(locked: db maintenance)" in refused.stderr
    assert run_cli(*config, "ping", "production").exit_code != 0  # asks, never waits: nothing runs
    status = run_cli(*config, "lock", "status", "production").stdout
    assert status.count("locked by") == 2 and "db maintenance" in status

    # --lock-wait: the deploy waits until the lock is given back, then goes through
    releaser = threading.Timer(3, lambda: run_cli(*config, "lock", "release", "production"))
    releaser.start()
    waited = run_cli(*config, "--lock-wait=60", "deploy", "release", "production")
    releaser.join()
    assert waited.exit_code == 0, waited.output

    # a lock whose time ran out is said to be stale, and --force breaks it
    assert run_cli(*config, "lock", "acquire", "production", "-m", "left behind").exit_code == 0
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    info = Path(sandbox.host("web1").home) / deliver_to.removeprefix("~/") / ".deliver.lock/info"
    info.write_text(info.read_text().replace("EXPIRES=", "EXPIRES=1\nOLD="))
    stale = run_cli(*config, "deploy", "release", "production")
    assert stale.exit_code == 1 and "stale: it expired at" in stale.stderr
    broken = run_cli(*config, "lock", "release", "production", "--force")
    assert "Released the lock of production on web1, web2" in broken.stdout
    assert run_cli(*config, "deploy", "release", "production").exit_code == 0
    audit = run_cli(*config, "audit", "production").stdout
    for line in ("lock acquire: db maintenance", "lock released", "lock broke"):
        assert line in audit
