"""The build lock: one build at a time in a build directory.

Two builds in one build tree overwrite each other's checkout between a reset and the pack (one
stored commit c2's code under a manifest naming c1). So every build (`build release`, `build
upgrade`, and `update`/`upgrade` through them) holds the lock of its build directory, with the
deploy lock's mechanism (host/lock.py): a `mkdir` of `<build.at>/.git/.deliver.lock` (inside
`.git`, where no reset or `git clean` reaches), holding who, what, since when and the holder's
pid. A second build waits `--lock-wait` seconds, or is refused naming the holder. A stale lock
(its holder's process is gone from this machine, or it is older than EXPIRE_SECONDS) is broken
with a warning naming whose it was. It is given back on success, failure and Ctrl-C.

`deliver lock status --build` shows it, and `deliver lock release --build` breaks it: a stale
one always, a live one (a build that may still run) only with `--force`.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from deliver.commands.lock import RETRY_SECONDS, describe, staleness, whoami
from deliver.commands.targets import connected
from deliver.config import Config
from deliver.errors import DeliverError
from deliver.host.lock import LockInfo, acquire, read, release
from deliver.output import Output
from deliver.transport.remote import Remote

#: A build holding its lock longer than this is taken to be gone (builds take minutes).
EXPIRE_SECONDS = 2 * 3600


class BuildLocked(DeliverError):
    def __init__(self, where: str, info: LockInfo, lock: str) -> None:
        self.info = info
        super().__init__(f"the build directory {where} is {describe(info)}")
        self.hint = (
            "wait for that build (--lock-wait=SECONDS); if it is gone, and only then, "
            f"deliver lock release --build --force (it removes {lock} there)"
        )


def lock_directory(build_at: str) -> str:
    """Where the lock directory is made: the build repository's .git (a path as `build.at`
    is written: host/lock.py quotes it)."""
    return f"{build_at.rstrip('/')}/.git"


@contextmanager
def build_locked(
    out: Output, remote: Remote, build_at: str, command: str, wait: float = 0
) -> Iterator[None]:
    """Hold the lock of the build directory `build_at` on `remote` for the block."""
    now = int(time.time())
    info = LockInfo(
        whoami(), os.getpid(), command, now, now + EXPIRE_SECONDS, secrets.token_hex(12)
    )
    where = f"{build_at} on {remote.name}"
    _take(out, remote, lock_directory(build_at), where, info, wait)
    try:
        yield
    finally:
        try:
            release(remote, lock_directory(build_at), f"TOKEN={info.token}")
        except DeliverError:  # the build itself is done (or failed on its own): say so
            out.warning(
                f"the build lock of {where} is still held: remove "
                f"{lock_directory(build_at)}/.deliver.lock there once no build runs"
            )


def _take(
    out: Output, remote: Remote, directory: str, where: str, info: LockInfo, wait: float
) -> None:
    deadline = time.monotonic() + wait
    broken = False
    while True:
        holder = acquire(remote, directory, info)
        if holder is None:
            return
        if not broken and staleness(holder) is not None:
            out.warning(f"breaking the build lock of {where}, {describe(holder)}")
            # only that lock: one another build took meanwhile has another SINCE line
            release(remote, directory, f"SINCE={holder.since}")
            broken = True
            continue
        if time.monotonic() >= deadline:
            raise BuildLocked(where, holder, f"{directory}/.deliver.lock")
        out.info(f"the build directory {where} is {describe(holder)}: waiting")
        time.sleep(min(RETRY_SECONDS, max(0.0, deadline - time.monotonic())))


@dataclass(frozen=True)
class BuildLockState:
    """The build lock of the build directory `build_at` on the build host `host`, and who
    holds it (None: nobody)."""

    host: str
    build_at: str
    holder: LockInfo | None

    @property
    def where(self) -> str:
        return f"{self.build_at} on {self.host}"

    @property
    def lock(self) -> str:
        return f"{lock_directory(self.build_at)}/.deliver.lock"

    def describe(self) -> str:
        if self.holder is None:
            return f"the build directory {self.where} is not locked"
        return f"the build directory {self.where} is {details(self.holder)}"


def details(info: LockInfo) -> str:
    """`describe` with the holder's pid, which tells whether that build still runs there."""
    text = describe(info)
    pid = f", pid {info.pid}" if info.pid else ""
    head, stale, rest = text.partition("; stale")
    return f"{head}{pid}{stale}{rest}"


def build_lock_status(config: Config, out: Output) -> BuildLockState:
    """Who holds the build lock of `build.at` on the build host (read-only)."""
    build = config.require_build()
    with connected(config, out, [build.host], private=False) as (remote,):
        return _state(remote, build.at)


def build_lock_release(config: Config, out: Output, force: bool = False) -> BuildLockState:
    """Remove the build lock of `build.at`: a stale one (its holder's process gone from this
    machine, or past its expiry), or with `force` a live one too. Returns the lock as it was
    (holder None: there was none). Raises BuildLocked for a live lock without `force`."""
    build = config.require_build()
    with connected(config, out, [build.host], private=False) as (remote,):
        state = _state(remote, build.at)
        holder = state.holder
        if holder is None:
            return state
        if not force and staleness(holder) is None:
            error = BuildLocked(state.where, holder, state.lock)
            error.hint = (
                "it is not stale: wait for that build; if you know it is gone, "
                "deliver lock release --build --force"
            )
            raise error
        # only the lock just read: one another build took meanwhile has another SINCE line
        if not release(remote, lock_directory(build.at), f"SINCE={holder.since}"):
            raise DeliverError(f"the build lock of {state.where} changed hands meanwhile")
        out.warning(f"broke the build lock of {state.where}, {details(holder)}")
        return state


def _state(remote: Remote, build_at: str) -> BuildLockState:
    return BuildLockState(remote.name, build_at, read(remote, lock_directory(build_at)))
