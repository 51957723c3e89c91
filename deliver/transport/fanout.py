"""Which machines a command touches, and running one step on all of them in parallel.

A command opens one connection per host (`connect_all`), keeps it for every phase, and runs
each phase with `fan_out`: every host runs, every result is gathered, and only then is a
failure reported, naming each host that failed and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from deliver.config import HostSpec, SshSettings
from deliver.errors import DeliverError, HostsFailed, Interrupted
from deliver.transport.connect import SshFiles
from deliver.transport.interrupts import active
from deliver.transport.local import LocalRemote
from deliver.transport.remote import OutputSink, Remote
from deliver.transport.ssh import SshRemote

T = TypeVar("T")
R = TypeVar("R", bound=Remote)

#: Parallel SSH handshakes are CPU-bound on both ends; more than this only queues.
MAX_PARALLEL = 32


def fan_out(
    phase: str,
    items: Sequence[R],
    work: Callable[[R], T],
    *,
    interruptible: bool = True,
    limit: int = MAX_PARALLEL,
) -> dict[str, T]:
    """Run `work` on every item in parallel, at most `limit` at once; raise HostsFailed if
    any failed.

    After a first Ctrl-C (interrupts.py) no item starts an `interruptible` phase (those in
    flight finish): Interrupted names the ones left out. A phase that puts hosts back as
    they were (a revert) is not interruptible. On the second Ctrl-C the items in flight are
    no longer waited for. An unexpected (non-Deliver) exception is a bug and is re-raised.
    """
    if not items:
        return {}
    watch = active()
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}
    left_out: list[str] = []

    def run(item: R) -> T:
        if watch is not None and not watch.may_start(phase, item.name, interruptible):
            raise _NotStarted
        try:
            return work(item)
        finally:
            if watch is not None:
                watch.finished(item.name)

    pool = ThreadPoolExecutor(max_workers=min(limit, len(items)))
    abandoned = True
    try:
        futures = {item.name: pool.submit(run, item) for item in items}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except _NotStarted:
                left_out.append(name)
            except DeliverError as error:
                errors[name] = error
        abandoned = False
    finally:
        # abandoned (the second Ctrl-C): the workers end when the command closes their
        # connections; waiting for them here is what the user asked not to do
        pool.shutdown(wait=not abandoned, cancel_futures=abandoned)
    if errors:
        errors |= {name: Interrupted(f"{phase} not started: Ctrl-C") for name in left_out}
        raise HostsFailed(phase, errors, [name for name in futures if name in results])
    if left_out:
        raise Interrupted(f"interrupted: the {phase} was not started on {', '.join(left_out)}")
    return results


class _NotStarted(Exception):
    """A worker that did not start its item because Ctrl-C came first."""


@contextmanager
def connect_all(
    hosts: Sequence[HostSpec],
    settings: SshSettings,
    sink: OutputSink | None,
    *,
    verbose: bool = False,
    debug: bool = False,
) -> Iterator[list[SshRemote | LocalRemote]]:
    """Open one SSH connection per host, in parallel, for the duration of the block
    (`localhost` is this machine, reached without SSH). HostsFailed if any cannot be opened."""
    with connect_each(hosts, settings, sink, verbose=verbose, debug=debug) as (remotes, errors):
        if errors:
            raise HostsFailed("connect", errors, [r.name for r in remotes])
        yield remotes


@contextmanager
def connect_each(
    hosts: Sequence[HostSpec],
    settings: SshSettings,
    sink: OutputSink | None,
    *,
    verbose: bool = False,
    debug: bool = False,
    interruptible: bool = True,
) -> Iterator[tuple[list[SshRemote | LocalRemote], dict[str, DeliverError]]]:
    """Like connect_all, for commands that report every host: yields the hosts that could
    be connected to and, by host name, why the others could not. Not `interruptible`: the
    connections open after a first Ctrl-C too (to finish or undo a step in flight)."""
    files = SshFiles.load(settings)
    remotes = [
        LocalRemote(h, sink, verbose=verbose, debug=debug)
        if h.is_local
        else SshRemote(h, settings, sink, verbose=verbose, debug=debug, files=files)
        for h in hosts
    ]
    errors: dict[str, DeliverError] = {}

    def open_one(remote: SshRemote | LocalRemote) -> None:
        try:
            remote.open()
        except DeliverError as error:
            errors[remote.name] = error

    try:
        fan_out("connect", remotes, open_one, limit=settings.parallel, interruptible=interruptible)
        yield [r for r in remotes if r.name not in errors], errors
    finally:
        for remote in remotes:
            remote.close()
