"""Which machines a command touches, and running one step on all of them in parallel.

A command opens one connection per host (`connect_all`), keeps it for every phase, and runs
each phase with `fan_out`: every host runs, every result is gathered, and only then is a
failure reported, naming each host that failed and why.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from deliver.config import HostSpec, SshSettings
from deliver.errors import DeliverError, HostsFailed
from deliver.transport.connect import SshFiles
from deliver.transport.local import LocalRemote
from deliver.transport.remote import OutputSink, Remote
from deliver.transport.ssh import SshRemote

T = TypeVar("T")
R = TypeVar("R", bound=Remote)

#: Parallel SSH handshakes are CPU-bound on both ends; more than this only queues.
MAX_PARALLEL = 32


def fan_out(
    phase: str, items: Sequence[R], work: Callable[[R], T], limit: int = MAX_PARALLEL
) -> dict[str, T]:
    """Run `work` on every item in parallel, at most `limit` at once; raise HostsFailed if
    any failed.

    An unexpected (non-Deliver) exception is a bug and is re-raised as it is.
    """
    if not items:
        return {}
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = {item.name: pool.submit(work, item) for item in items}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except DeliverError as error:
                errors[name] = error
    if errors:
        raise HostsFailed(phase, errors, [name for name in futures if name in results])
    return results


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
) -> Iterator[tuple[list[SshRemote | LocalRemote], dict[str, DeliverError]]]:
    """Like connect_all, for commands that report every host: yields the hosts that could
    be connected to and, by host name, why the others could not."""
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
        fan_out("connect", remotes, open_one, settings.parallel)
        yield [r for r in remotes if r.name not in errors], errors
    finally:
        for remote in remotes:
            remote.close()


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C until every host is switched, then raise it: no host is left behind."""
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
