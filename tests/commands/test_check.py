"""`deliver check config [ENV] --hosts` against real sandbox hosts: read-only, every host
reported, non-zero exit for what would make a deploy fail."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from deliver.commands.check import Finding, carries_erts, compare_erlang
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
    erlang = [line for line in result.stdout.splitlines() if line.split()[1:2] == ["erlang"]]
    assert len(erlang) == 3, result.stdout
    assert "(releases carry this ERTS)" in erlang[-1] and erlang[-1].startswith("build")
    for line in erlang[:2]:
        assert "the same as the build host's OTP 25, ERTS" in line, result.stdout
    assert "web1 env: PORT=" in result.stdout and "(primary web1)" in result.stdout
    # read-only: the deliver_to that does not exist yet was not created
    assert not (Path(sandbox.host("web1").home) / "checked").exists()
    home = sandbox.host("web1").home
    assert f"~/checked/app (not there yet: made in {home}, writable)" in result.stdout

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


def test_erlang_of_deploy_hosts_is_compared_with_the_build_hosts() -> None:
    built = Finding("build", "erlang", True, "25, ERTS 13.1.5")
    hosts = [
        built,
        Finding("web1", "erlang", True, "25, ERTS 13.1.5"),
        Finding("web2", "erlang", True, "26, ERTS 14.2"),
        Finding("web3", "erlang", True, ""),
    ]
    carried = {f.host: f for f in compare_erlang(hosts, "build", carried=True)}
    assert all(f.ok for f in carried.values())
    assert carried["web2"].detail == (
        "OTP 26, ERTS 14.2; not used: the release brings the build host's OTP 25, ERTS 13.1.5"
    )
    assert carried["web3"].detail.startswith("no Erlang installed; not used")
    bare = {f.host: f for f in compare_erlang(hosts, "build", carried=False)}
    assert bare["build"].detail == "OTP 25, ERTS 13.1.5 (hosts need this same ERTS)"
    assert bare["web1"].ok and not bare["web2"].ok and not bare["web3"].ok
    assert "include_erts is off" in bare["web2"].detail


def test_include_erts_false_means_hosts_need_erlang(tmp_path: Path) -> None:
    (tmp_path / "mix.exs").write_text(HELLO_MIX)
    assert carries_erts(tmp_path)
    (tmp_path / "mix.exs").write_text("releases: [app: [include_erts: false]]")
    assert not carries_erts(tmp_path)
    (tmp_path / "mix.exs").unlink()
    (tmp_path / "rebar.config").write_text("{relx, [{include_erts, false}]}.")
    assert not carries_erts(tmp_path)


def test_every_unset_variable_is_named_at_once_and_the_file_is_not_called_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / ".deliver.yml"
    config.write_text(
        "app: hello\nbuild: {host: build, at: ~/b, env: {TOKEN: '${BUILD_TOKEN}'}}\n"
        "environments:\n  production:\n    deliver_to: ~/app\n    hosts: [web1]\n"
        "    env: {SECRET_KEY_BASE: '${MY_SECRET}', DB: '${DB_URL}', PORT: '4000'}\n"
        "  staging:\n    deliver_to: ~/app\n    hosts: [web9]\n"
        "    env: {OTHER: '${STAGING_ONLY}'}\n"
    )
    monkeypatch.setenv("DB_URL", "ecto://db")
    result = run_cli("--config", config, "check", "config", "production")
    assert result.exit_code == 2, result.output
    assert "is valid" not in result.output
    assert result.stderr.startswith(f"error: {config}: 2 value(s) from unset variables: ")
    assert "environments.production.env.SECRET_KEY_BASE: ${MY_SECRET} is not set" in result.stderr
    assert "build.env.TOKEN: ${BUILD_TOKEN} is not set" in result.stderr
    assert "STAGING_ONLY" not in result.stderr  # not the environment checked
    assert "hint: set them in the shell (or the CI job) that runs deliver" in result.stderr

    monkeypatch.setenv("MY_SECRET", "s3cret")
    monkeypatch.setenv("BUILD_TOKEN", "t0ken")
    fixed = run_cli("--config", config, "check", "config", "production")
    assert fixed.exit_code == 0, fixed.output
    assert "is valid" in fixed.stdout and "s3cret" not in fixed.output
    everything = run_cli("--config", config, "check", "config")
    assert everything.exit_code == 2 and "1 value(s) from unset variables" in everything.stderr


def test_a_host_name_nothing_resolves_is_said_with_where_it_was_looked_up(
    tmp_path: Path,
) -> None:
    config = tmp_path / ".deliver.yml"
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    deliver_to: ~/app\n"
        "    hosts: [web3.invalid]\n"
    )
    result = run_cli("--config", config, "ping", "production")
    assert result.exit_code == 3, result.output
    assert (
        "web3.invalid: cannot connect to web3.invalid: unknown host name (no DNS name, and no "
        "Host entry of the ssh config names it)" in result.stderr
    )
