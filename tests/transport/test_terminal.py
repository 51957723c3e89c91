"""An interactive session on a real sandbox host through a real pseudo-terminal: the remote
pty has this terminal's size and follows it, keys such as Ctrl-C go to the remote program,
and this terminal's settings are restored however the session ends."""

from __future__ import annotations

import os
import sys
import termios
from pathlib import Path

import pexpect
import pytest

from deliver.sandbox import Sandbox
from deliver.transport.terminal import _raw

ROOT = Path(__file__).parents[2]

#: Runs `interact` on the sandbox's web1 with the command in argv[1], then says whether this
#: terminal got its settings back.
SESSION = """
import sys, termios
sys.path.insert(0, {root!r})
from pathlib import Path
from deliver.config import HostSpec, SshSettings
from deliver.transport.ssh import SshRemote
from deliver.transport.terminal import interact

settings = SshSettings(config_file=Path({config!r}), known_hosts=Path({known!r}))
remote = SshRemote(HostSpec.parse("web1"), settings).open()
before = termios.tcgetattr(0)
status = interact(remote.client.get_transport(), "web1", sys.argv[1])
print("status", status, "restored" if termios.tcgetattr(0) == before else "NOT RESTORED")
"""


def test_raw_mode_is_undone_on_exit_and_on_ctrl_c() -> None:
    leader, follower = os.openpty()
    try:
        before = termios.tcgetattr(follower)
        with _raw(follower, True):
            assert termios.tcgetattr(follower) != before  # raw: no echo, no line editing
        assert termios.tcgetattr(follower) == before
        with pytest.raises(KeyboardInterrupt), _raw(follower, True):
            raise KeyboardInterrupt
        assert termios.tcgetattr(follower) == before
    finally:
        os.close(leader)
        os.close(follower)


def test_the_remote_pty_follows_this_terminal_and_gets_ctrl_c(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    script = tmp_path / "session.py"
    script.write_text(
        SESSION.format(
            root=str(ROOT), config=str(sandbox.ssh_config), known=str(sandbox.known_hosts)
        )
    )
    command = (
        "stty size; trap 'echo got-ctrl-c; stty size; exit 5' INT; "
        "echo ready; while :; do sleep 0.1; done"
    )
    session = pexpect.spawn(
        sys.executable, [str(script), command], dimensions=(40, 120), timeout=20, encoding="utf-8"
    )
    session.expect(r"40 120\r\n")  # the size of this terminal
    session.expect("ready")
    session.setwinsize(30, 101)
    session.sendcontrol("c")  # to the remote program, not to deliver
    session.expect("got-ctrl-c")
    session.expect(r"30 101")  # and it followed the resize
    session.expect(r"status 5 restored")
    session.expect(pexpect.EOF)
