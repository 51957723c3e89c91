"""An interactive terminal session on a host, over the command's existing SSH connection: what
`ssh -t host command` does, for `deliver remote_console`.

The remote side gets a pseudo-terminal of this terminal's type and size (resized with it on
SIGWINCH); this terminal is put in raw mode, so every key (Ctrl-C, Ctrl-G, arrows, tab) goes
to the remote program, as it does in ssh. The terminal's settings are restored however the
session ends: the program exits, the connection drops, or deliver is interrupted.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from deliver.errors import ConnectionFailed

if TYPE_CHECKING:
    import paramiko

CHUNK = 32 << 10


def interact(
    transport: paramiko.Transport,
    host: str,
    command: str,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    """Run `command` on a pty of the host, wired to this terminal until it exits; returns its
    exit status. Raises ConnectionFailed when the connection drops."""
    source = stdin or sys.stdin.buffer
    sink = stdout or sys.stdout.buffer
    is_tty = os.isatty(source.fileno())
    try:
        channel = transport.open_session()
        channel.set_combine_stderr(True)  # as on a terminal: one stream, in order
        if is_tty:
            columns, lines = _size(source.fileno())
            channel.get_pty(os.environ.get("TERM", "xterm"), columns, lines)
        channel.exec_command(command)
    except (OSError, EOFError) as error:
        raise ConnectionFailed(host, f"cannot open a terminal: {error}") from None
    try:
        with _raw(source.fileno(), is_tty), _resizing(channel, source.fileno(), is_tty):
            _pump(channel, source.fileno(), sink)
        status: int = channel.recv_exit_status()
        return status
    except (OSError, EOFError) as error:
        raise ConnectionFailed(host, f"connection lost: {error}") from None
    finally:
        channel.close()


def _pump(channel: paramiko.Channel, source: int, sink: BinaryIO) -> None:
    """Copy keys to the channel and its output to `sink` until the remote program is done."""
    channel.settimeout(0.0)
    reading = True
    while True:
        wanted = [channel, source] if reading else [channel]
        ready, _, _ = select.select(wanted, [], [], 0.5)
        if channel in ready or channel.recv_ready():
            data = channel.recv(CHUNK)
            if not data:
                return
            sink.write(data)
            sink.flush()
        if source in ready:
            keys = os.read(source, CHUNK)
            if keys:
                channel.sendall(keys)
            else:  # EOF on a pipe: the remote side gets it too, and ends in its own time
                channel.shutdown_write()
                reading = False
        if channel.exit_status_ready() and not channel.recv_ready():
            return


@contextlib.contextmanager
def _raw(fd: int, is_tty: bool) -> Iterator[None]:
    if not is_tty:
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _resizing(channel: paramiko.Channel, fd: int, is_tty: bool) -> Iterator[None]:
    """Pass this terminal's new size on to the remote pty while the session lasts."""
    if not is_tty:
        yield
        return

    def resize(_signum: int, _frame: object) -> None:
        columns, lines = _size(fd)
        with contextlib.suppress(Exception):  # a size change must never end the session
            channel.resize_pty(columns, lines)

    try:
        previous = signal.signal(signal.SIGWINCH, resize)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _size(fd: int) -> tuple[int, int]:
    """The terminal's own size, as ssh asks it (COLUMNS and LINES in the environment may be
    stale: a shell sets them for itself, and they do not follow a resize)."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        size = shutil.get_terminal_size()
    return size.columns, size.lines
