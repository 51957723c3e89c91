"""This machine as a Remote: commands through /bin/sh, stdin, files."""

from __future__ import annotations

import pytest

from deliver.config import HostSpec
from deliver.errors import CommandFailed
from deliver.transport.local import LocalRemote


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
