"""The build lock of one build directory, on this machine's shell (the same scripts run on
the build host): taken and given back, refused naming a live holder, a stale one broken."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from deliver.commands.build_lock import BuildLocked, build_locked
from deliver.commands.lock import whoami
from deliver.config import HostSpec
from deliver.host.lock import LockInfo, acquire, read
from deliver.output import Output
from deliver.transport.local import LocalRemote

REMOTE = LocalRemote(HostSpec.parse("localhost"))


def output() -> tuple[Output, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    return Output(stdout, stderr, color=False), stdout, stderr


def held_by(holder: str, pid: int, *, age: int = 0, expires_in: int = 3600) -> LockInfo:
    now = int(time.time()) - age
    return LockInfo(holder, pid, "build release 0.2.0", now, now + expires_in, "t0ken")


def test_the_lock_is_held_for_the_build_and_given_back_on_failure_too(tmp_path: Path) -> None:
    at = str(tmp_path / "build")
    out, _, _ = output()
    with build_locked(out, REMOTE, at, "build release 0.1.0"):
        info = read(REMOTE, f"{at}/.git")
        assert info is not None
        assert (info.holder, info.pid) == (whoami(), os.getpid())
        assert info.command == "build release 0.1.0"
    assert read(REMOTE, f"{at}/.git") is None
    with pytest.raises(RuntimeError), build_locked(out, REMOTE, at, "build release 0.1.0"):
        raise RuntimeError("the build failed")
    assert read(REMOTE, f"{at}/.git") is None


def test_a_second_build_is_refused_naming_the_holder_or_waits(tmp_path: Path) -> None:
    at = str(tmp_path / "build")
    assert acquire(REMOTE, f"{at}/.git", held_by("alice@laptop", 4242)) is None
    out, stdout, _ = output()
    with pytest.raises(BuildLocked) as refused, build_locked(out, REMOTE, at, "build"):
        pytest.fail("the lock was taken twice")
    assert str(refused.value).startswith(
        f"the build directory {at} on localhost is locked by alice@laptop since "
    )
    assert str(refused.value).endswith("(build release 0.2.0)")
    assert refused.value.hint == (
        "wait for that build (--lock-wait=SECONDS); if it is gone, and only then, remove "
        f"{at}/.git/.deliver.lock there"
    )
    with pytest.raises(BuildLocked), build_locked(out, REMOTE, at, "build", wait=0.5):
        pytest.fail("the lock was taken twice")
    waited = stdout.getvalue()
    assert "is locked by alice@laptop since" in waited and ": waiting" in waited
    held = read(REMOTE, f"{at}/.git")
    assert held is not None and held.holder == "alice@laptop"  # the holder's lock stays


@pytest.mark.parametrize(
    ("holder", "why"),
    [
        (held_by(whoami(), 2**22 + 12345), "its process (4206649) is gone"),
        (held_by("alice@laptop", 4242, age=3 * 3600, expires_in=2 * 3600), "it expired at"),
    ],
)
def test_a_stale_lock_is_broken_with_a_warning(tmp_path: Path, holder: LockInfo, why: str) -> None:
    at = str(tmp_path / "build")
    assert acquire(REMOTE, f"{at}/.git", holder) is None
    out, _, stderr = output()
    with build_locked(out, REMOTE, at, "build release 0.2.1"):
        info = read(REMOTE, f"{at}/.git")
        assert info is not None and info.command == "build release 0.2.1"
    assert f"breaking the build lock of {at} on localhost, locked by {holder.holder}" in (
        stderr.getvalue()
    )
    assert why in stderr.getvalue()
