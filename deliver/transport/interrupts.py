"""Ctrl-C while a command changes hosts: the first one finishes what is in flight, the second
abandons it.

The first Ctrl-C is acknowledged at once (`finishing the switch on 3 hosts; Ctrl-C again to
abandon`); from then on no host starts a phase (fan_out asks `may_start`) and the command
stops before its next phase or batch (`stopping`), reporting what each host runs. The second
raises `Abandoned` in the main thread, wherever it waits: the command then says what each
host runs and which command recovers (commands/report.py).

A signal handler is process-wide by nature, so the watch in force is too (`active()`): a
command that changes hosts opens one with `watching_interrupts`, and fan_out, several calls
below it, finds it there instead of having it passed through every phase.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class Abandoned(KeyboardInterrupt):
    """The second Ctrl-C: hosts in flight are no longer waited for."""


class Interrupts:
    """What one command's Ctrl-C handling knows: whether the first came, and what runs now."""

    def __init__(self, notify: Callable[[str], None]) -> None:
        self.notify = notify
        self.stopping = False
        self._lock = threading.Lock()
        self._phase = ""
        self._in_flight: set[str] = set()

    def may_start(self, phase: str, host: str, interruptible: bool = True) -> bool:
        """Called by a worker before it starts `phase` on `host`: False after the first Ctrl-C,
        unless the phase must run anyway (it finishes or undoes what is in flight)."""
        with self._lock:
            if self.stopping and interruptible:
                return False
            self._phase = phase
            self._in_flight.add(host)
            return True

    def finished(self, host: str) -> None:
        with self._lock:
            self._in_flight.discard(host)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The SIGINT handler (it runs in the main thread, between two of its bytecodes)."""
        if self.stopping:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a third one just exits
            raise Abandoned
        with self._lock:
            self.stopping = True
            hosts, phase = len(self._in_flight), self._phase
        if hosts:
            self.notify(
                f"finishing the {phase} on {hosts} host{'s' if hosts > 1 else ''}; "
                "Ctrl-C again to abandon"
            )
        else:
            self.notify("stopping before the next step; Ctrl-C again to abandon")


_active: list[Interrupts] = []


def active() -> Interrupts | None:
    """The watch of the command that is running, if it opened one."""
    return _active[-1] if _active else None


@contextmanager
def watching_interrupts(notify: Callable[[str], None]) -> Iterator[Interrupts]:
    """Handle Ctrl-C as this module says for the block; outside the main thread (where no
    signal arrives) the watch is there but never fires."""
    watch = Interrupts(notify)
    try:
        previous = signal.signal(signal.SIGINT, watch.handle)
    except ValueError:  # not the main thread
        previous = None
    _active.append(watch)
    try:
        yield watch
    finally:
        _active.remove(watch)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
