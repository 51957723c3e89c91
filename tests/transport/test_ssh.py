"""The SSH layer against real sshd processes on loopback."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deliver.config import HostSpec, SshSettings
from deliver.errors import CommandFailed, ConnectionFailed, HostKeyError, HostsFailed
from deliver.sandbox import Sandbox
from deliver.transport.erldist import UNREACHABLE, DistError
from deliver.transport.fanout import connect_all, fan_out
from deliver.transport.ssh import SshRemote


def settings(sandbox: Sandbox, known_hosts: Path | None = None) -> SshSettings:
    return SshSettings(
        config_file=sandbox.ssh_config,
        known_hosts=known_hosts or sandbox.known_hosts,
        connect_timeout=5,
    )


def test_each_host_has_its_own_home_and_epmd_port(sandbox: Sandbox) -> None:
    hosts = [HostSpec.parse(h.name) for h in sandbox.targets]
    with connect_all(hosts, settings(sandbox), None) as remotes:
        seen = fan_out("probe", remotes, lambda r: r.run("echo $HOME $ERL_EPMD_PORT").stdout)
    assert seen == {h.name: f"{h.home} {h.epmd_port}\n" for h in sandbox.targets}


def test_upload_and_download_round_trip(sandbox: Sandbox, tmp_path: Path) -> None:
    data = bytes(range(256)) * 20_000
    (tmp_path / "blob").write_bytes(data)
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    try:
        remote.upload(tmp_path / "blob", "~/blob")
        remote.upload(b"secret\n", "~/private", mode=0o600)
        fetched = io.BytesIO()
        remote.download("~/blob", fetched)
        assert fetched.getvalue() == data
        assert remote.run("stat -c %a ~/private").stdout.strip() == "600"
    finally:
        remote.close()


def test_failed_command_reports_host_step_status_and_tail(sandbox: Sandbox) -> None:
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    try:
        with pytest.raises(CommandFailed) as error:
            remote.run("seq 1 30; echo boom >&2; exit 3", step="counting")
    finally:
        remote.close()
    text = str(error.value)
    assert text.startswith("counting failed on web1 (exit status 3)")
    assert "boom" in text and "    30" in text and "    5\n" not in text


def test_unknown_host_key_is_refused_with_a_hint(sandbox: Sandbox, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as error:
        SshRemote(HostSpec.parse("web1"), settings(sandbox, empty)).open()
    assert "unknown host key ssh-ed25519 SHA256:" in str(error.value)
    assert error.value.hint is not None
    assert f"ssh-keyscan -p {sandbox.host('web1').port} 127.0.0.1 >> {empty}" in error.value.hint
    assert empty.read_text() == "", "nothing may be trusted silently"


def test_changed_host_key_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    # web2's key recorded under web1's address: exactly what a changed key looks like
    web1, web2 = sandbox.host("web1"), sandbox.host("web2")
    lines = sandbox.known_hosts.read_text().splitlines()
    web2_key = next(line for line in lines if line.startswith(f"[127.0.0.1]:{web2.port} "))
    forged = tmp_path / "known_hosts"
    forged.write_text(web2_key.replace(str(web2.port), str(web1.port)) + "\n")
    with pytest.raises(HostKeyError, match="the host key has CHANGED"):
        SshRemote(HostSpec.parse("web1"), settings(sandbox, forged)).open()


def test_unreachable_hosts_are_named(sandbox: Sandbox) -> None:
    down = HostSpec.parse("127.0.0.1:1")
    with (
        pytest.raises(HostsFailed) as error,
        connect_all([HostSpec.parse("web1"), down], settings(sandbox), None),
    ):
        pass
    assert list(error.value.errors) == ["127.0.0.1:1"]
    assert isinstance(error.value.errors["127.0.0.1:1"], ConnectionFailed)
    assert "connection refused" in str(error.value)
    assert error.value.succeeded == ["web1"]


def test_a_refused_channel_is_a_connection_failure_not_a_crash(sandbox: Sandbox) -> None:
    # sshd allows MaxSessions channels per connection (64 in the sandbox): hold them all, and
    # the next one is refused, as when the link drops between the liveness check and the open
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    held = []
    try:
        with pytest.raises(ConnectionFailed, match="web1: cannot open an SSH channel"):
            for _ in range(200):
                held.append(remote._exec("cat"))  # ends when its channel closes
    finally:
        for channel in held:
            channel.close()
        remote.close()
    assert held  # the first channels were opened: the refusal came from the limit


def test_paramiko_log_lines_never_reach_the_terminal() -> None:
    # in a fresh interpreter: pytest's own log capture would hide the lastResort output
    script = (
        "import logging, deliver.transport.ssh\n"
        "logging.getLogger('paramiko.transport').error('Socket exception: reset (104)')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stderr == ""


def test_output_streams_stdin_and_lost_connections(sandbox: Sandbox) -> None:
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    try:
        # both streams are read as they come: 3 MB on stderr cannot stall 3 MB on stdout
        big = remote.run("head -c 3000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero")
        assert (len(big.stdout), len(big.stderr), big.exit_status) == (3_000_000, 3_000_000, 0)
        # a command reading stdin gets EOF at once instead of waiting for input forever
        assert remote.run("cat; echo after").stdout == "after\n"
        with pytest.raises(ConnectionFailed, match="connection lost"):
            remote.run("kill -9 $PPID")  # the sshd process serving this connection
    finally:
        remote.close()


def test_stdin_reaches_the_command_then_eof(sandbox: Sandbox) -> None:
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    try:
        data = "secret line\nthr\u00e9e\n".encode()
        assert remote.run("cat; echo after", stdin=data).stdout == "secret line\nthrée\nafter\n"
        # a command that ends without reading its stdin keeps its own status
        with pytest.raises(CommandFailed) as failed:
            remote.run("exit 5", stdin=bytes(1 << 16))
        assert failed.value.exit_status == 5
    finally:
        remote.close()


def test_upload_into_a_missing_directory_says_why(sandbox: Sandbox) -> None:
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    try:
        with pytest.raises(CommandFailed) as error:
            remote.upload(bytes(4 << 20), "~/no/such/dir/file")
    finally:
        remote.close()
    assert "upload of ~/no/such/dir/file failed on web1" in str(error.value)
    assert "No such file or directory" in str(error.value)


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def remote_output(self, host: str, text: str) -> None:
        self.lines.append((host, text))

    def remote_command(self, host: str, command: str) -> None:
        pass


def test_verbose_output_arrives_line_by_line_per_stream(sandbox: Sandbox) -> None:
    sink = Lines()
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox), sink, verbose=True).open()
    try:
        remote.run(
            "printf 'one\\ntw'; printf 'oops\\n' >&2; sleep 0.2; printf 'o\\nthr\\303\\251e'"
        )
    finally:
        remote.close()
    assert sorted(sink.lines) == sorted(
        [("web1", "one"), ("web1", "oops"), ("web1", "two"), ("web1", "thrée")]
    )


def test_feed_streams_a_file_after_its_head_and_stops_when_the_command_does(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: more than any channel window
    (tmp_path / "blob").write_bytes(data)
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox)).open()
    sent: list[int] = []
    try:
        # the head is read exactly (dd bs=1), the rest of stdin is the file, then EOF
        script = "dd bs=1 count=6 2>/dev/null; echo; sha256sum | cut -d' ' -f1"
        done = remote.feed(script, tmp_path / "blob", head=b"secret", progress=sent.append)
        assert done.stdout == f"secret\n{hashlib.sha256(data).hexdigest()}\n"
        assert sum(sent) == len(data)
        # a command that stops reading early keeps its own status and message: no hang, and
        # not a lost connection
        with pytest.raises(CommandFailed) as failed:
            remote.feed("head -c 10 >/dev/null; echo refused; exit 4", tmp_path / "blob", step="x")
        assert (failed.value.exit_status, failed.value.output_tail) == (4, "refused")
        assert remote.run("echo still connected").stdout == "still connected\n"
    finally:
        remote.close()


def test_a_tcp_channel_from_the_host_and_a_private_command(sandbox: Sandbox) -> None:
    sink = Lines()
    remote = SshRemote(HostSpec.parse("web1"), settings(sandbox), sink, verbose=True).open()
    try:
        with socket.socket() as listening:
            listening.bind(("127.0.0.1", 0))  # the sandbox hosts share this machine's loopback
            listening.listen()
            port = listening.getsockname()[1]
            channel = remote.open_tcp(port, 5)
            accepted, _ = listening.accept()
            channel.sendall(b"over ssh")
            assert accepted.recv(100) == b"over ssh"
            accepted.close()
            channel.close()
        with pytest.raises(DistError) as refused:
            remote.open_tcp(port, 5)
        assert refused.value.kind == UNREACHABLE and f"port {port}" in str(refused.value)
        assert remote.run_private("echo cookie").stdout == "cookie\n"
        remote.run("echo shown")
    finally:
        remote.close()
    assert sink.lines == [("web1", "shown")]  # the private command's output never was
