"""What a command touches: the environment, its hosts (all, or those named), the release store
and one connection per host, opened once for the whole command and shared by its phases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from deliver.commands.lock import locked
from deliver.config import Config, Environment, HostSpec
from deliver.errors import DeliverError, InvalidArgument
from deliver.host.private import PrivateRemote
from deliver.output import Output
from deliver.release_store import ReleaseStore, open_store
from deliver.transport.fanout import connect_all, connect_each
from deliver.transport.remote import Remote


@dataclass(frozen=True)
class Targets:
    """The environment a command works on and the hosts of it that it touches."""

    env: Environment
    hosts: tuple[HostSpec, ...]

    @property
    def names(self) -> str:
        return ", ".join(host.name for host in self.hosts)


def targets(config: Config, environment: str, wanted: Sequence[str] = ()) -> Targets:
    """`environment` (ConfigError if it is not configured) and its hosts, or those `wanted`."""
    env = config.environment(environment)
    return Targets(env, tuple(select_hosts(env, wanted)))


def select_hosts(environment: Environment, wanted: Sequence[str] = ()) -> list[HostSpec]:
    """The environment's hosts, or those named in `wanted` (by address or host name)."""
    if not wanted:
        return list(environment.hosts)
    chosen: list[HostSpec] = []
    for name in wanted:
        matches = [h for h in environment.hosts if name in (h.name, h.hostname)]
        if not matches:
            known = ", ".join(h.name for h in environment.hosts)
            raise InvalidArgument("host", f"not a host of {environment.name} ({known})", name)
        chosen += [h for h in matches if h not in chosen]
    return chosen


@contextmanager
def connected(
    config: Config, out: Output, hosts: Sequence[HostSpec], *, private: bool = True
) -> Iterator[list[Remote]]:
    """One connection per host, in parallel, for the duration of the block.

    Deploy hosts' connections are private (host/private.py: umask 077, uploads 0600). The
    build host's are not (`private=False`): the build keeps the login's umask, so the release
    it makes is what the project's own build makes; its tree is 0700 and its archive 0600
    (build/tree.py)."""
    with connect_all(hosts, config.ssh, out, verbose=out.verbose, debug=out.debug) as remotes:
        yield [PrivateRemote(remote) for remote in remotes] if private else list(remotes)


@contextmanager
def connected_and_locked(
    config: Config, out: Output, chosen: Targets, command: str
) -> Iterator[list[Remote]]:
    """`connected`, holding the environment's deploy lock on those hosts for the block: for
    every command that changes what a host runs (commands/lock.py)."""
    with (
        connected(config, out, chosen.hosts) as remotes,
        locked(out, chosen.env, remotes, command, config.lock_wait, _reconnect(config, out)),
    ):
        yield remotes


def _reconnect(
    config: Config, out: Output
) -> Callable[[list[HostSpec]], AbstractContextManager[list[Remote]]]:
    """New connections to some hosts: the lock is given back over them where the command's
    own connection was lost."""
    return lambda hosts: connected(config, out, hosts)


@contextmanager
def reachable(
    config: Config, out: Output, hosts: Sequence[HostSpec], *, interruptible: bool = True
) -> Iterator[tuple[list[Remote], dict[str, DeliverError]]]:
    """Like `connected` (private too), for read-only commands that report every host they
    can: the hosts connected to, and why each of the others could not be. Not
    `interruptible`: also after a first Ctrl-C (a host reached again to finish or undo)."""
    with connect_each(
        hosts,
        config.ssh,
        out,
        verbose=out.verbose,
        debug=out.debug,
        interruptible=interruptible,
    ) as (remotes, unreachable):
        yield [PrivateRemote(remote) for remote in remotes], unreachable


@contextmanager
def release_store(config: Config, out: Output) -> Iterator[ReleaseStore]:
    """The configured release store, open for the duration of the block."""
    with open_store(config, out, verbose=out.verbose, debug=out.debug) as store:
        yield store
