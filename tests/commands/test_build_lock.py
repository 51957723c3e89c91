"""The build lock of one build directory, on this machine's shell (the same scripts run on
the build host): taken and given back, refused naming a live holder, a stale one broken; and
`deliver lock status|release --build` against the sandbox build host."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from deliver.commands.build_lock import BuildLocked, build_locked, details
from deliver.commands.lock import whoami
from deliver.config import HostSpec
from deliver.host.lock import LockInfo, acquire, read
from deliver.output import Output
from deliver.sandbox import Sandbox
from deliver.transport.local import LocalRemote
from tests.conftest import edit_config, run_cli, write_config

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
        "wait for that build (--lock-wait=SECONDS); if it is gone, and only then, deliver "
        f"lock release --build --force (it removes {at}/.git/.deliver.lock there)"
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


def test_details_name_the_pid_before_why_it_is_stale() -> None:
    live = details(held_by("alice@laptop", 4242))
    assert live.startswith("locked by alice@laptop since ")
    assert live.endswith("(build release 0.2.0), pid 4242")
    stale = details(held_by("alice@laptop", 4242, age=3 * 3600, expires_in=2 * 3600))
    assert ", pid 4242; stale: it expired at " in stale


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["lock", "status"], "which lock? give ENVIRONMENT (its deploy lock) or --build"),
        (["lock", "release", "production", "--build"], "give ENVIRONMENT or --build, not both"),
    ],
)
def test_one_lock_at_a_time(args: list[str], problem: str) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    assert f"error: {problem}" in result.stderr
    assert "Traceback" not in result.output


BUILD_AT = "~/build/lock_commands"


def plant(sandbox: Sandbox, info: LockInfo) -> Path:
    """A build lock on the sandbox build host, as another deliver left it there."""
    lock = Path(sandbox.host("build").home) / BUILD_AT.removeprefix("~/") / ".git/.deliver.lock"
    lock.mkdir(parents=True)
    (lock / "info").write_text(info.lines())
    return lock


def test_build_lock_status_and_release_on_the_build_host(sandbox: Sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path / "deliver.yml", sandbox, deliver_to="~/unused")
    edit_config(config, lambda data: data["build"].update(at=BUILD_AT))
    cli = ("--config", config)
    free = run_cli(*cli, "lock", "status", "--build")
    assert free.exit_code == 0, free.output
    assert f"build: the build directory {BUILD_AT} on build is not locked" in free.stdout
    nothing = run_cli(*cli, "lock", "release", "--build")
    assert nothing.exit_code == 0, nothing.output
    assert f"No build lock on {BUILD_AT} on build: nothing to release" in nothing.stdout

    # a live build of a teammate: shown with its pid, and kept unless --force
    lock = plant(sandbox, held_by("alice@laptop", 4242))
    held = run_cli(*cli, "lock", "status", "--build")
    assert held.exit_code == 0, held.output
    shown = f"build: the build directory {BUILD_AT} on build is locked by alice@laptop since "
    assert shown in held.stdout
    assert "(build release 0.2.0), pid 4242\n" in held.stdout and "stale" not in held.stdout
    kept = run_cli(*cli, "lock", "release", "--build")
    assert kept.exit_code == 1, kept.output
    assert f"error: the build directory {BUILD_AT} on build is locked by alice" in kept.stderr
    assert "hint: it is not stale: wait for that build; if you know it is gone, " in kept.stderr
    assert "deliver lock release --build --force" in kept.stderr
    assert lock.is_dir()
    forced = run_cli(*cli, "lock", "release", "--build", "--force")
    assert forced.exit_code == 0, forced.output
    assert f"warning: broke the build lock of {BUILD_AT} on build, locked by alice" in forced.stderr
    assert f"Released the build lock of {BUILD_AT} on build" in forced.stdout
    assert not lock.exists()

    # stale (its time ran out, or its process on this machine is gone): said, and broken
    # without --force, as the next build would break it
    for stale, why in [
        (held_by("alice@laptop", 4242, age=3 * 3600, expires_in=2 * 3600), "stale: it expired at"),
        (held_by(whoami(), 2**22 + 12345), "stale: its process (4206649) is gone"),
    ]:
        lock = plant(sandbox, stale)
        status = run_cli(*cli, "lock", "status", "--build")
        assert why in status.stdout, status.output
        broken = run_cli(*cli, "lock", "release", "--build")
        assert broken.exit_code == 0, broken.output
        assert why in broken.stderr
        assert not lock.exists()
