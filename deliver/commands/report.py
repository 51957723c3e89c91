"""What a command that changes hosts says when it fails or is interrupted: a table of what
each host runs now (host, current, running, node up?) and the command that finishes the job
or undoes it.

The table is read afresh, over new connections, once the command's own are closed: after a
lost connection or an abandoned step, only a new look says what a host really runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from deliver.commands.lock import EnvironmentLocked
from deliver.commands.targets import Targets, reachable
from deliver.config import Config
from deliver.errors import ConfigError, DeliverError, Interrupted, UsageError
from deliver.host.state import HostNow, host_now
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.interrupts import Abandoned, Interrupts, watching_interrupts
from deliver.transport.remote import Remote

STATE_HEADERS = ("HOST", "CURRENT", "RUNNING", "NODE")


@dataclass
class Recovery:
    """How to finish or undo one command on an environment (filled in as the command
    learns: `before` once the hosts were read).

    `target`: the release every host should boot and run (None: restart what is current);
    `start`: whether the command restarts nodes (without it, a host is done once current
    names the target); `before`: what each host had current before the command."""

    environment: str
    finish: str
    target: str | None = None
    start: bool = True
    before: dict[str, str | None] = field(default_factory=dict)

    def done(self, host: HostNow) -> bool:
        if self.target is None:
            return host.up is True
        return host.on(self.target) if self.start else host.current == self.target

    def undo(self, now: Sequence[HostNow]) -> str | None:
        """The command that puts every host back, when they all had one release before."""
        before = set(self.before.values())
        if len(before) != 1 or None in before or self.target is None:
            return None
        (old,) = before
        if old == self.target:
            return None
        flag = " --start-deploy" if self.start else ""
        return f"deliver deploy release to {self.environment} --version {old}{flag}"

    def advice(self, now: Sequence[HostNow]) -> str:
        """The hint under the table."""
        if all(self.done(host) for host in now):
            return f"every host is done: {self.finish} has nothing left to do"
        if self.unchanged(now):
            return f"every host runs what it ran before; to try again: {self.finish}"
        undo = self.undo(now)
        text = f"to finish: {self.finish}"
        return text + (f"; to go back: {undo}" if undo else "")

    def unchanged(self, now: Sequence[HostNow]) -> bool:
        """Every host still boots what it had current and its node answers (or the command
        failed before it read any host)."""
        return not self.before or all(
            host.current == self.before.get(host.name) and host.up is True for host in now
        )


def state_table(now: Sequence[HostNow]) -> str:
    """The rows, aligned, for the end of an error message."""
    rows = [STATE_HEADERS] + [
        (
            host.name,
            host.current or "-",
            host.runs or "-",
            _node(host),
        )
        for host in now
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATE_HEADERS) - 1)]
    return "\n".join(
        "  " + "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def _node(host: HostNow) -> str:
    if host.problem:
        return f"unknown: {host.problem}"
    return "up" if host.up else "down"


def read_now(config: Config, out: Output, chosen: Targets) -> list[HostNow]:
    """Every host's row, in the environment's order, over fresh connections."""
    with reachable(config, out, chosen.hosts) as (remotes, unreachable):

        def ask(remote: Remote) -> HostNow:
            return host_now(remote, chosen.env.deliver_to, config.app)

        found = fan_out("reading the state", remotes, ask, interruptible=False)
    rows = {name: HostNow(name, problem=str(error)) for name, error in unreachable.items()}
    rows |= found
    return [rows[host.name] for host in chosen.hosts if host.name in rows]


#: Failures that change nothing and carry their own advice: no table after them.
_BEFORE_ANYTHING = (ConfigError, UsageError, EnvironmentLocked)


@contextmanager
def reporting(
    config: Config, out: Output, chosen: Targets, recovery: Recovery
) -> Iterator[list[Interrupts]]:
    """Around a command that changes hosts (and outside its connections): a failure ends
    with the state table and the recovery, the second Ctrl-C too (as Interrupted, exit 130).

    Yields a list that the command fills with its Ctrl-C watch (`watch`), so that a first
    Ctrl-C that let everything finish still ends with the table."""
    watches: list[Interrupts] = []
    try:
        yield watches
    except Abandoned:
        now = read_now(config, out, chosen)
        error = Interrupted("abandoned (Ctrl-C twice): steps in flight were cut off")
        raise _with_state(error, now, recovery) from None
    except _BEFORE_ANYTHING:
        raise
    except DeliverError as error:
        raise _with_state(error, read_now(config, out, chosen), recovery) from None
    if any(watch.stopping for watch in watches):
        now = read_now(config, out, chosen)
        out.info("Ctrl-C came after the last step had begun: everything asked for was done")
        out.info(state_table(now))


@contextmanager
def watch(out: Output, watches: list[Interrupts]) -> Iterator[Interrupts]:
    """The command's Ctrl-C watch (interrupts.py), inside its connections and lock."""
    with watching_interrupts(out.notice) as interrupts:
        watches.append(interrupts)
        yield interrupts


def _with_state(error: DeliverError, now: list[HostNow], recovery: Recovery) -> DeliverError:
    """The error, with the table; its own hint stays where nothing changed (trying again
    as it was would only fail again), else the way to finish or undo replaces it."""
    error.state = state_table(now)
    if error.hint and recovery.unchanged(now):
        error.hint = f"{error.hint} (every host runs what it ran before)"
    else:
        error.hint = recovery.advice(now)
    return error


def stop_if_interrupted(interrupts: Interrupts, before: str) -> None:
    """Between two steps: after a first Ctrl-C, the next one is not begun."""
    if interrupts.stopping:
        raise Interrupted(f"interrupted (Ctrl-C): stopped before {before}")
