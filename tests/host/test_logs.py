"""The log script of one host, run by a real shell on a log directory made here: the last
lines across files in the order they were written, --grep taken as data, the journal's
command line, and the watchdog that ends a follower whose sshd went away."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from deliver.config import NodeManager
from deliver.errors import InvalidArgument
from deliver.host.logs import WATCHDOG, LogQuery, log_script
from deliver.tools import node_commands

MIX = node_commands("mix")


def run(tmp_path: Path, query: LogQuery, manager: NodeManager | None = None) -> str:
    script = log_script(manager or NodeManager(), MIX, "hello", query)
    done = subprocess.run(
        ["sh", "-c", f"root={tmp_path}\n{script}"], capture_output=True, text=True, check=True
    )
    return done.stdout


def write_logs(tmp_path: Path) -> None:
    logs = tmp_path / "log"
    logs.mkdir()
    for age, (name, text) in enumerate(
        [
            ("erlang.log.1", "newest 1\nnewest 2\n"),
            ("erlang.log.2", "older 1\nolder 2\n"),
            ("run_erl.log", "run_erl's own diary\n"),
        ]
    ):
        (logs / name).write_text(text)
        os.utime(logs / name, (time.time() - 100 * age, time.time() - 100 * age))


def test_the_last_lines_across_the_files_oldest_first(tmp_path: Path) -> None:
    write_logs(tmp_path)
    assert run(tmp_path, LogQuery(lines=3)) == "older 2\nnewest 1\nnewest 2\n"
    assert run(tmp_path, LogQuery(lines=10)).count("diary") == 0


def test_grep_is_a_pattern_never_a_command(tmp_path: Path) -> None:
    write_logs(tmp_path)
    assert run(tmp_path, LogQuery(grep="^older [0-9]$")) == "older 1\nolder 2\n"
    hostile = "'; touch pwned; echo '"
    assert run(tmp_path, LogQuery(grep=hostile)) == ""
    assert not (tmp_path / "pwned").exists()


def test_a_host_that_never_logged_says_so(tmp_path: Path) -> None:
    assert run(tmp_path, LogQuery()) == "(nothing logged yet)\n"


def test_the_journal_of_the_unit() -> None:
    query = LogQuery(lines=20, since="2024-05-01 10:00", grep="error|warn")
    script = log_script(NodeManager("systemd", unit="web"), MIX, "hello", query)
    assert script == (
        '$([ "$(id -u)" = 0 ] || echo sudo -n) journalctl --no-pager --unit web.service '
        "--lines 20 --output short-iso --since='2024-05-01 10:00' --grep='error|warn'"
    )
    follow = log_script(NodeManager("systemd"), MIX, "hello", LogQuery(follow=True))
    assert follow.startswith(WATCHDOG) and follow.endswith(" --follow")


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (dict(since="$(reboot)"), "since '$(reboot)': expected a time like"),
        (dict(since="x" * 65), "since"),
        (dict(grep="a\nb"), "grep: expected a regular expression on one line"),
        (dict(lines=-1), "lines -1: expected 0 or more lines"),
    ],
)
def test_bad_queries_are_refused(query: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        LogQuery(**query)  # type: ignore[arg-type]
    assert error in str(raised.value)


def test_since_is_for_the_journal_only() -> None:
    with pytest.raises(InvalidArgument, match="works with the journal only"):
        log_script(NodeManager(), MIX, "hello", LogQuery(since="yesterday"))


def test_the_watchdog_ends_the_session_once_its_parent_is_gone() -> None:
    """A follower that never writes (so never meets the closed pipe) still goes: the stand-in
    for sshd is a shell that started it, killed here."""
    marker = f"sleep {1000 + os.getpid() % 1000}.{time.time_ns() % 1000:03d}"  # ours alone
    follower = f"{WATCHDOG}\nexec {marker}"
    parent = subprocess.Popen(
        ["setsid", "sh", "-c", f"sh -c {_quoted(follower)}; sleep 300"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _running(marker):
        assert time.monotonic() < deadline, "the follower did not start"
        time.sleep(0.1)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(marker):
        assert time.monotonic() < deadline, "the follower outlived its parent"
        time.sleep(0.2)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _running(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"^{marker}$"], capture_output=True, text=True)
    return bool(found.stdout.strip())
