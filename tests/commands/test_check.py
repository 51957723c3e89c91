"""`deliver check config [ENV] --hosts` against real sandbox hosts: read-only, every host
reported, non-zero exit for what would make a deploy fail."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from deliver.sandbox import Sandbox
from tests.conftest import edit_config, run_cli, write_config

HELLO_MIX = (Path(__file__).resolve().parents[2] / "examples" / "hello" / "mix.exs").read_text()


def rows_of(rows: list[list[str]], host: str, check: str) -> list[str]:
    row = next(r for r in rows if r[:2] == [host, check])
    return " ".join(row).split()


def a_port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_host_is_ready(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "mix.exs").write_text(HELLO_MIX)
    config = write_config(tmp_path / ".deliver", sandbox, deliver_to="~/checked/app")
    result = run_cli("--config", config, "check", "config", "production", "--hosts")
    assert result.exit_code == 0, result.output
    rows = {tuple(line.split()[:3]) for line in result.stdout.splitlines()}
    for host in ("web1", "web2"):
        for check in ("connect", "deliver_to", "disk", "tar", "sha256sum", "lock"):
            assert (host, check, "ok") in rows, (host, check, result.stdout)
    for check in ("connect", "git", "mix", "erl", "erlang"):
        assert ("build", check, "ok") in rows, (check, result.stdout)
    assert "Every host is ready (3 checked)" in result.stdout
    assert "web1 env: PORT=" in result.stdout and "(primary web1)" in result.stdout
    # read-only: the deliver_to that does not exist yet was not created
    assert not (Path(sandbox.host("web1").home) / "checked").exists()

    # a held deploy lock is what a deploy would meet: named, and a failure
    assert run_cli("--config", config, "lock", "acquire", "production", "-m", "db").exit_code == 0
    locked = run_cli("--config", config, "check", "config", "production", "--hosts")
    assert locked.exit_code == 1
    assert "(locked: db): a deploy would be refused" in locked.stdout
    assert run_cli("--config", config, "lock", "release", "production").exit_code == 0


def test_what_would_fail_is_named_per_host_and_exits_1(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "mix.exs").write_text(HELLO_MIX)
    config = write_config(tmp_path / ".deliver", sandbox, deliver_to="~/checked/app")
    port = a_port_nobody_listens_on()

    def break_it(data: dict[str, Any]) -> None:
        data["linked_files"] = ["config/prod.secret.exs"]
        data["environments"]["production"]["hosts"].append({"host": f"127.0.0.1:{port}"})

    edit_config(config, break_it)
    result = run_cli("--config", config, "check", "config", "--hosts")
    assert result.exit_code == 1, result.output
    rows = [line.split(None, 3) for line in result.stdout.splitlines()]
    assert rows_of(rows, "web1", "linked")[:4] == ["web1", "linked", "files", "FAIL"]
    assert "missing in shared/: config/prod.secret.exs" in result.stdout
    assert f"127.0.0.1:{port}" in result.stdout and "connection refused" in result.stdout
    assert "check(s) failed on" in result.stderr and "a deploy would fail" in result.stderr
