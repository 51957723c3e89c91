"""This machine as a Remote: commands through /bin/sh, stdin, files."""

from __future__ import annotations

import socket

import pytest

from deliver.config import HostSpec
from deliver.errors import CommandFailed
from deliver.transport.erldist import UNREACHABLE, DistError
from deliver.transport.local import LocalRemote
from deliver.transport.remote import NodeLink, Result


def test_stdin_reaches_the_command_then_eof() -> None:
    remote = LocalRemote(HostSpec.parse("localhost"))
    data = "secret line\nthr\u00e9e\n".encode()
    assert remote.run("cat; echo after", stdin=data).stdout == "secret line\nthrée\nafter\n"
    # without stdin, a command reading it gets EOF at once
    assert remote.run("cat; echo after").stdout == "after\n"
    # a command that ends without reading 1 MB of stdin keeps its own status, nothing hangs
    with pytest.raises(CommandFailed) as failed:
        remote.run("exit 5", stdin=bytes(1 << 20))
    assert failed.value.exit_status == 5


def test_output_is_text_with_universal_newlines() -> None:
    result = LocalRemote(HostSpec.parse("localhost")).run("printf 'a\\r\\nb\\n\\377'; echo e >&2")
    assert (result.stdout, result.stderr) == ("a\nb\n\ufffd", "e\n")


class Lines:
    """An OutputSink that keeps what --verbose would show."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def remote_output(self, host: str, text: str) -> None:
        self.lines.append(f"{host} | {text}")

    def remote_command(self, host: str, command: str) -> None:
        pass

    def warning(self, text: str) -> None:
        pass


def test_the_node_link_of_this_machine() -> None:
    sink = Lines()
    remote = LocalRemote(HostSpec.parse("localhost"), sink, verbose=True)
    assert isinstance(remote, NodeLink)
    # a secret's output is never shown; an ordinary command's is, and a note once
    assert remote.run_private("echo cookie; exit 3") == Result("cookie\n", "", 3)
    remote.run("echo shown")
    remote.note("asking bin/x instead")
    remote.note("asking bin/x instead")
    assert sink.lines == ["localhost | shown", "localhost | asking bin/x instead"]
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        remote.open_tcp(port, 2).close()
    with pytest.raises(DistError) as refused:
        remote.open_tcp(port, 2)  # nothing listens there any more
    assert refused.value.kind == UNREACHABLE
