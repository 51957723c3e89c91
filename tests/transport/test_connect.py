"""Opening connections: ssh_config resolution, jump hosts, strict host keys, socket options."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from deliver.cli import ExitCode
from deliver.config import HostSpec, SshSettings
from deliver.errors import HostKeyError
from deliver.sandbox import Sandbox
from deliver.transport.connect import Endpoint, SshFiles, connect
from deliver.transport.fanout import connect_all, fan_out
from deliver.transport.ssh import SshRemote
from tests.conftest import run_cli

SSH_CONFIG = """\
Host app
  HostName 10.0.0.5
  Port 2222
  User deploy
  IdentityFile /keys/app
  IdentitiesOnly yes
  ProxyJump bastion,admin@gate:2200

Host *.internal
  User ops
  ProxyCommand ssh -W %h:%p bastion

Host *
  IdentityFile /keys/default
"""


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (
            "app",
            Endpoint(
                "app",
                "10.0.0.5",
                2222,
                "deploy",
                ("/keys/app", "/keys/default"),
                True,
                ("bastion", "admin@gate:2200"),
            ),
        ),
        (
            "root@app:22",
            Endpoint(
                "root@app:22",
                "10.0.0.5",
                22,
                "root",
                ("/keys/app", "/keys/default"),
                True,
                ("bastion", "admin@gate:2200"),
            ),
        ),
        (
            "db.internal",
            Endpoint(
                "db.internal",
                "db.internal",
                22,
                "ops",
                ("/keys/default",),
                proxy_command="ssh -W db.internal:22 bastion",
            ),
        ),
    ],
)
def test_endpoints_follow_the_ssh_config(tmp_path: Path, written: str, expected: Endpoint) -> None:
    (tmp_path / "ssh_config").write_text(SSH_CONFIG)
    files = SshFiles.load(SshSettings(tmp_path / "ssh_config", tmp_path / "known_hosts"))
    assert Endpoint.resolve(HostSpec.parse(written), files) == expected


def test_connections_use_nodelay_and_aes_gcm(sandbox: Sandbox) -> None:
    settings = SshSettings(sandbox.ssh_config, sandbox.known_hosts)
    connection = connect(HostSpec.parse("web1"), settings, SshFiles.load(settings))
    try:
        transport = connection.transport
        # without TCP_NODELAY, Nagle and the server's delayed ACK cost 40 ms per command
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert transport.local_cipher == transport.remote_cipher == "aes128-gcm@openssh.com"
    finally:
        connection.close()


def jump_config(sandbox: Sandbox, path: Path) -> Path:
    """The sandbox's ssh_config plus names that reach web1 through the build host."""
    web1 = sandbox.host("web1")
    path.write_text(
        sandbox.ssh_config.read_text()
        + f"Host web1-via-jump\n  HostName 127.0.0.1\n  Port {web1.port}\n  ProxyJump build\n\n"
        + f"Host web1-via-command\n  HostName 127.0.0.1\n  Port {web1.port}\n"
        + f"  ProxyCommand ssh -F {sandbox.ssh_config} -W %h:%p build\n"
    )
    return path


@pytest.mark.parametrize("name", ["web1-via-jump", "web1-via-command"])
def test_proxy_jump_and_proxy_command_from_ssh_config(
    sandbox: Sandbox, tmp_path: Path, name: str
) -> None:
    config = jump_config(sandbox, tmp_path / "ssh_config")
    settings = SshSettings(config, sandbox.known_hosts, identity=sandbox.identity)
    remote = SshRemote(HostSpec.parse(name), settings).open()
    try:
        assert remote.run("echo $HOME").stdout.strip() == sandbox.host("web1").home
    finally:
        remote.close()


def test_jump_host_keys_are_checked_too(sandbox: Sandbox, tmp_path: Path) -> None:
    config = jump_config(sandbox, tmp_path / "ssh_config")
    build = sandbox.host("build")
    known = tmp_path / "known_hosts"
    known.write_text(
        "".join(
            line + "\n"
            for line in sandbox.known_hosts.read_text().splitlines()
            if not line.startswith(f"[127.0.0.1]:{build.port} ")
        )
    )
    settings = SshSettings(config, known, identity=sandbox.identity)
    with pytest.raises(HostKeyError) as error:
        SshRemote(HostSpec.parse("web1-via-jump"), settings).open()
    assert str(error.value).startswith("cannot connect to build (jump): unknown host key")


def test_hashed_known_hosts_are_read_once_and_matched(sandbox: Sandbox, tmp_path: Path) -> None:
    hashed = tmp_path / "known_hosts"
    hashed.write_text(sandbox.known_hosts.read_text())
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    assert "127.0.0.1" not in hashed.read_text()
    hosts = [HostSpec.parse(h.name) for h in sandbox.targets]
    settings = SshSettings(sandbox.ssh_config, hashed)
    with connect_all(hosts, settings, None) as remotes:
        assert fan_out("probe", remotes, lambda r: r.run("echo ok").stdout) == {
            h.name: "ok\n" for h in sandbox.targets
        }


# known_hosts markers: @revoked is honoured, @cert-authority is refused clearly, never a crash


def host_key_line(sandbox: Sandbox, name: str) -> str:
    """`[127.0.0.1]:<port> <type> <base64>` for sandbox host `name`."""
    port = sandbox.host(name).port
    return next(
        line
        for line in sandbox.known_hosts.read_text().splitlines()
        if line.startswith(f"[127.0.0.1]:{port} ")
    )


def other_key(tmp_path: Path, name: str = "ca") -> str:
    """`<type> <base64>` of a fresh key that no sandbox host has."""
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def open_with(sandbox: Sandbox, known_hosts: Path, host: str) -> str:
    settings = SshSettings(sandbox.ssh_config, known_hosts)
    remote = SshRemote(HostSpec.parse(host), settings).open()
    try:
        return remote.run("echo ok").stdout.strip()
    finally:
        remote.close()


@pytest.mark.parametrize("also_trusted", [True, False], ids=["also-listed", "only-revoked"])
@pytest.mark.parametrize("pattern", ["*", "[127.0.0.1]:{port}", "web9,[127.0.0.1]:*"])
def test_a_revoked_host_key_is_refused(
    sandbox: Sandbox, tmp_path: Path, pattern: str, also_trusted: bool
) -> None:
    names, key = host_key_line(sandbox, "web1").split(" ", 1)
    patterns = pattern.format(port=sandbox.host("web1").port)
    known = tmp_path / "known_hosts"
    known.write_text(f"@revoked {patterns} {key}\n" + (f"{names} {key}\n" if also_trusted else ""))
    with pytest.raises(HostKeyError) as error:
        open_with(sandbox, known, "web1")
    assert str(error.value).startswith(
        f"cannot connect to web1: the host key {key.split()[0]} SHA256:"
    )
    assert f"is REVOKED (@revoked in {known})" in str(error.value)


def test_a_revocation_for_another_host_or_key_changes_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    names, key = host_key_line(sandbox, "web1").split(" ", 1)
    known = tmp_path / "known_hosts"
    known.write_text(
        f"@revoked [127.0.0.1]:1,!{names} {key}\n@revoked * {other_key(tmp_path)}\n{names} {key}\n"
    )
    assert open_with(sandbox, known, "web1") == "ok"


def test_a_host_known_only_by_a_certificate_authority_is_refused_in_one_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority [127.0.0.1]:* {other_key(tmp_path)}\n")
    with pytest.raises(HostKeyError) as error:
        open_with(sandbox, known, "web1")
    assert str(error.value) == (
        "cannot connect to web1: host certificates (@cert-authority) are not supported: "
        "add the host's own key to known_hosts"
    )
    assert error.value.hint is None


def test_cert_authority_lines_beside_plain_ones_still_connect(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    ca = other_key(tmp_path)
    known.write_text(
        f"@cert-authority *.example.com {ca}\n"
        + "".join(host_key_line(sandbox, h.name) + "\n" for h in sandbox.targets)
        + f"@cert-authority [127.0.0.1]:* {ca}\n"
    )
    hosts = [HostSpec.parse(h.name) for h in sandbox.targets]
    settings = SshSettings(sandbox.ssh_config, known)
    with connect_all(hosts, settings, None) as remotes:
        assert fan_out("probe", remotes, lambda r: r.run("echo ok").stdout) == {
            h.name: "ok\n" for h in sandbox.targets
        }


def test_a_command_with_marked_known_hosts_fails_in_one_line_not_as_a_bug(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    key = host_key_line(sandbox, "web1").split(" ", 1)[1]
    known = tmp_path / "known_hosts"
    known.write_text(
        f"@revoked * {key}\n@cert-authority *.example.com {other_key(tmp_path)}\n"
        + "".join(host_key_line(sandbox, h.name) + "\n" for h in sandbox.targets)
    )
    config = tmp_path / ".deliver"
    text = sandbox.deliver_config("hello", deliver_to="~/known_hosts_markers")
    config.write_text(text.replace(str(sandbox.known_hosts), str(known)))
    result = run_cli("--config", config, "ping", "production")
    # web2 has nothing deployed here: what matters is that web1 is refused, not a crash
    assert result.exit_code in (ExitCode.FAILED, ExitCode.UNREACHABLE), result.output
    assert "web1: cannot connect to web1: the host key ssh-ed25519 SHA256:" in result.stderr
    assert "is REVOKED" in result.stderr and "bug" not in result.output
