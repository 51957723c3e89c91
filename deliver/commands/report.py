"""What a command that changes hosts says when it fails or is interrupted: a table of what
each host runs now (host, current, running, node up?) and the command that finishes the job
or undoes it.

The table is read afresh, over new connections, once the command's own are closed: after a
lost connection or an abandoned step, only a new look says what a host really runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from deliver.commands.lock import EnvironmentLocked
from deliver.commands.targets import Targets, reachable
from deliver.config import Config
from deliver.errors import ConfigError, DeliverError, HostsFailed, Interrupted, UsageError
from deliver.host.state import HostNow, host_now
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.interrupts import Abandoned, Interrupts, active, watching_interrupts
from deliver.transport.remote import Remote

STATE_HEADERS = ("HOST", "CURRENT", "RUNNING", "NODE")
T = TypeVar("T")
R = TypeVar("R", bound=Remote)


@dataclass
class Recovery:
    """How to finish or undo one command on an environment (filled in as the command
    learns: `before` once the hosts were read).

    `target`: the release every host should boot and run (None: restart what is current);
    `start`: whether the command restarts nodes (without it, a host is done once current
    names the target); `before`: what each host had current before the command; `down`: the
    command stops nodes (a host is done once its node is down, and `back` starts them);
    `back`: the command that undoes it, when known beforehand (a hot upgrade's downgrade,
    `{version}` standing for what the hosts ran); `fixed`: advice that holds whatever the
    hosts run (a migration changes a database, not the hosts); `ran`: what each node said
    it ran before, where the command asked (a hot install changes that, not `current`)."""

    environment: str
    finish: str
    target: str | None = None
    start: bool = True
    before: dict[str, str | None] = field(default_factory=dict)
    down: bool = False
    back: str | None = None
    fixed: str | None = None
    ran: dict[str, str] = field(default_factory=dict)

    def learn(self, versions: dict[str, str]) -> None:
        """The versions the nodes run (and boot: a hot upgrade checked they agree)."""
        self.before.update(versions)
        self.ran.update(versions)

    def done(self, host: HostNow) -> bool:
        if self.down:
            return host.up is False
        if self.target is None:
            return host.up is True
        return host.on(self.target) if self.start else host.current == self.target

    def undo(self, now: Sequence[HostNow]) -> str | None:
        """The command that puts every host back, when they all had one release before."""
        if self.down:
            return self.back
        before = set(self.before.values())
        if len(before) != 1 or None in before or self.target is None:
            return None
        (old,) = before
        if old == self.target:
            return None
        if self.back is not None:
            return self.back.format(version=old)
        flag = " --start-deploy" if self.start else ""
        return f"deliver deploy release to {self.environment} --version {old}{flag}"

    def advice(self, now: Sequence[HostNow]) -> str:
        """The hint under the table."""
        if self.fixed is not None:
            return self.fixed
        if self.down:
            return self._after_stop(now)
        if not self.before:  # it failed before it read any host
            return f"every host runs what it ran before; to try again: {self.finish}"
        if all(self.done(host) for host in now):
            return f"every host is done: {self.finish} has nothing left to do"
        if self.unchanged(now):
            return f"every host runs what it ran before; to try again: {self.finish}"
        undo = self.undo(now)
        text = f"to finish: {self.finish}"
        return text + (f"; to go back: {undo}" if undo else "")

    def _after_stop(self, now: Sequence[HostNow]) -> str:
        """A stop says which nodes it stopped, and how to start them again."""
        stopped = [host.name for host in now if host.up is False]
        again = f"; to start them again: {self.back}" if self.back and stopped else ""
        if len(stopped) == len(now):
            return f"every node is stopped now{again}"
        if not stopped:
            return f"every node still runs; to try again: {self.finish}"
        return f"stopped now: {', '.join(stopped)}{again}; to finish: {self.finish}"

    def unchanged(self, now: Sequence[HostNow]) -> bool:
        """Every host still boots what it had current and its node answers (or the command
        failed before it read any host)."""
        return not self.before or all(
            host.current == self.before.get(host.name)
            and host.up is True
            and host.runs == self.ran.get(host.name, host.runs)
            for host in now
        )


def hot_recovery(
    environment: str, version: str, hosts: Sequence[str], *, downgrade: bool = False
) -> Recovery:
    """After a hot upgrade (or `downgrade`) failed or was interrupted: the same command
    again finishes it (it leaves the hosts that run `version` alone); the opposite one takes
    the others back to what they ran."""
    flags = "".join(f" --host {host}" for host in hosts)
    upgrade = f"deliver deploy upgrade {environment} --version {{version}}{flags}"
    down = f"deliver downgrade {environment} --version {{version}}{flags}"
    again, back = (down, upgrade) if downgrade else (upgrade, down)
    return Recovery(environment, again.format(version=version), version, back=back)


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
            return host_now(remote, chosen.env.deliver_to, config.app, ask_node=True)

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
    if recovery.fixed is not None:
        error.hint = "; ".join(hint for hint in (error.hint, recovery.fixed) if hint)
    elif error.hint and recovery.unchanged(now):
        error.hint = f"{error.hint} (every host runs what it ran before)"
    else:
        error.hint = recovery.advice(now)
    return error


def stop_if_interrupted(interrupts: Interrupts | None, before: str) -> None:
    """Between two steps: after a first Ctrl-C, the next one is not begun."""
    if interrupts is not None and interrupts.stopping:
        raise Interrupted(f"interrupted (Ctrl-C): stopped before {before}")


def in_flight(phase: str, remote: R, work: Callable[[R], T]) -> T:
    """`work` on one host as a phase of its own, so that a first Ctrl-C finds it in flight
    (and lets it finish); a failure is the host's own error, not a one-host HostsFailed."""
    try:
        return fan_out(phase, [remote], work)[remote.name]
    except HostsFailed as failed:
        error = failed.errors.get(remote.name)
        raise error if isinstance(error, DeliverError) else failed from None


def stop_before(step: str) -> None:
    """stop_if_interrupted with the watch in force, for phases that run below the command
    that opened it (a hot install, shared by deploy upgrade and upgrade)."""
    stop_if_interrupted(active(), step)
