"""The deploy lock of an environment: every mutating command (deploy, upgrade, downgrade,
rollback, restart, start, stop, migrate) takes it on every host it touches, all or nothing,
and gives it back on success, failure and Ctrl-C; read-only ones never take it. Each
mutating command also leaves one line in every host's audit log. `deliver lock` shows,
takes and breaks it; `deliver audit` reads the log.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from deliver.config import Config, Environment, HostSpec
from deliver.errors import ConnectionFailed, DeliverError, HostsFailed, Interrupted
from deliver.host.lock import LockInfo, acquire, audit, audit_tail, read, release
from deliver.host.private import PrivateRemote
from deliver.output import Output
from deliver.transport.fanout import connect_all, fan_out
from deliver.transport.remote import Remote

#: A lock older than this is stale: its holder may be gone, and `--force` may break it.
EXPIRE_SECONDS = 3600
#: New connections to some hosts, for the length of a block.
Reconnect = Callable[[list[HostSpec]], AbstractContextManager[list[Remote]]]
RETRY_SECONDS = 2.0


class EnvironmentLocked(DeliverError):
    def __init__(self, environment: str, host: str, info: LockInfo) -> None:
        self.info = info
        stale = _staleness(info)
        super().__init__(
            f"{environment} is locked by {info.holder} since {_clock(info.since)} "
            f"({info.command}) on {host}" + (f"; {stale}" if stale else "")
        )
        self.hint = (
            f"wait (--lock-wait=SECONDS), or break it: deliver lock release {environment} --force"
        )


def whoami() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


@contextmanager
def locked(
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    command: str,
    wait: float = 0,
    reconnect: Reconnect | None = None,
) -> Iterator[None]:
    """Hold `env`'s lock on every one of `remotes` for the block, then give it back and
    write the outcome (ok, failed, interrupted) to each host's audit log; where a host's
    connection was lost meanwhile, over a new one from `reconnect`."""
    now = int(time.time())
    token = secrets.token_hex(12)
    info = LockInfo(whoami(), os.getpid(), command, now, now + EXPIRE_SECONDS, token)
    _take(out, env, remotes, info, wait)
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    except (KeyboardInterrupt, Interrupted):
        outcome = "interrupted"
        raise
    finally:
        _give_back(out, env, remotes, info, outcome, reconnect)


def _take(
    out: Output, env: Environment, remotes: Sequence[Remote], info: LockInfo, wait: float
) -> None:
    deadline = time.monotonic() + wait
    while True:
        held = _try_all(env, remotes, info)
        if not held:
            return
        host, holder = next(iter(held.items()))
        if time.monotonic() >= deadline:
            raise EnvironmentLocked(env.name, host, holder)
        out.detail(f"{env.name} is locked by {holder.holder} ({holder.command}): waiting")
        time.sleep(min(RETRY_SECONDS, max(0.0, deadline - time.monotonic())))


def _try_all(env: Environment, remotes: Sequence[Remote], info: LockInfo) -> dict[str, LockInfo]:
    """One attempt on every host; all or nothing: on any refusal, what was taken is given
    back. Returns who holds the hosts that refused."""
    try:
        found = fan_out(
            "taking the deploy lock", remotes, lambda r: acquire(r, env.deliver_to, info)
        )
    except HostsFailed as failed:
        taken = [r for r in remotes if r.name in failed.succeeded]
        _release_all(env, taken, info)
        raise
    held = {name: holder for name, holder in found.items() if holder is not None}
    if held:
        _release_all(env, [r for r in remotes if r.name not in held], info)
    return held


def _release_all(env: Environment, remotes: Sequence[Remote], info: LockInfo) -> None:
    fan_out(
        "releasing the deploy lock",
        remotes,
        lambda r: release(r, env.deliver_to, f"TOKEN={info.token}"),
    )


def _give_back(
    out: Output,
    env: Environment,
    remotes: Sequence[Remote],
    info: LockInfo,
    outcome: str,
    reconnect: Reconnect | None = None,
) -> None:
    line = f"{_iso(int(time.time()))} {info.holder} {info.command}: {outcome}"

    def on_host(remote: Remote) -> None:
        audit(remote, env.deliver_to, line)
        release(remote, env.deliver_to, f"TOKEN={info.token}")

    try:
        fan_out("releasing the deploy lock", remotes, on_host, interruptible=False)
        return
    except HostsFailed as failed:  # the work itself is done (or failed on its own): say so
        held = list(failed.errors)
        # a host whose connection was lost during the command is asked again over a new one
        lost = [r.host for r in remotes if isinstance(failed.errors.get(r.name), ConnectionFailed)]
    if lost and reconnect is not None:
        try:
            with reconnect(lost) as fresh:
                fan_out("releasing the deploy lock", fresh, on_host, interruptible=False)
            held = [name for name in held if name not in {host.name for host in lost}]
        except DeliverError:
            pass
    if held:
        out.warning(
            f"the deploy lock of {env.name} is still held on {', '.join(held)}: "
            f"deliver lock release {env.name} --force once you know nothing else runs"
        )


def lock_status(config: Config, out: Output, environment: str) -> dict[str, LockInfo | None]:
    """Who holds the lock on each host of `environment` (read-only)."""
    env = config.environment(environment)
    with _connected(config, out, env) as remotes:
        return fan_out("reading the deploy lock", remotes, lambda r: read(r, env.deliver_to))


def lock_acquire(config: Config, out: Output, environment: str, message: str) -> None:
    """Take `environment`'s lock and keep it (maintenance): every mutating command of
    everyone, yours included, is refused until `deliver lock release`."""
    env = config.environment(environment)
    now = int(time.time())
    token = secrets.token_hex(12)
    info = LockInfo(whoami(), os.getpid(), f"locked: {message}", now, now + EXPIRE_SECONDS, token)
    with _connected(config, out, env) as remotes:
        _take(out, env, remotes, info, 0)
        fan_out(
            "audit",
            remotes,
            lambda r: audit(
                r, env.deliver_to, f"{_iso(now)} {info.holder} lock acquire: {message}"
            ),
        )
    out.step(
        f"{environment} is locked by {info.holder}: deliver lock release {environment} frees it"
    )


def lock_release(config: Config, out: Output, environment: str, force: bool) -> list[str]:
    """Give back a lock you took with `lock acquire` (or, with `force`, anyone's);
    returns the hosts whose lock was removed."""
    env = config.environment(environment)
    owner = None if force else f"HOLDER={whoami()}"
    with _connected(config, out, env) as remotes:
        removed = fan_out(
            "releasing the deploy lock", remotes, lambda r: release(r, env.deliver_to, owner)
        )
        released = [name for name, done in removed.items() if done]
        what = "broke" if force else "released"
        line = f"{_iso(int(time.time()))} {whoami()} lock {what}"
        fan_out(
            "audit",
            [r for r in remotes if r.name in released],
            lambda r: audit(r, env.deliver_to, line),
        )
    return released


def audit_log(config: Config, out: Output, environment: str, lines: int) -> dict[str, list[str]]:
    """The last `lines` lines of each host's audit log."""
    env = config.environment(environment)
    with _connected(config, out, env) as remotes:
        return fan_out(
            "reading the audit log", remotes, lambda r: audit_tail(r, env.deliver_to, lines)
        )


def describe(info: LockInfo) -> str:
    stale = _staleness(info)
    text = f"locked by {info.holder} since {_clock(info.since)} ({info.command})"
    return text + (f"; {stale}" if stale else "")


def staleness(info: LockInfo) -> str | None:
    """Why a lock is stale, if it is: its holder's process is gone (when it is this machine's),
    or its time ran out."""
    return _staleness(info)


def _staleness(info: LockInfo) -> str | None:
    if info.expires and info.expires < time.time():
        return f"stale: it expired at {_clock(info.expires)}"
    if info.holder == whoami() and info.pid and not _alive(info.pid):
        return f"stale: its process ({info.pid}) is gone"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clock(epoch: int) -> str:
    moment = datetime.fromtimestamp(epoch)
    today = datetime.now().date() == moment.date()
    return moment.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S")


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


@contextmanager
def _connected(config: Config, out: Output, env: Environment) -> Iterator[list[Remote]]:
    """The environment's hosts, private as targets.connected makes them (host/private.py)."""
    with connect_all(env.hosts, config.ssh, out, verbose=out.verbose, debug=out.debug) as remotes:
        yield [PrivateRemote(remote) for remote in remotes]
