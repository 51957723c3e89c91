"""One fleet for the whole fault suite: web1 and web2 of the session sandbox, each running
hello 0.1.0 under `~/faults`, with the health check on. Every case starts from there (a case
that left a host elsewhere is put back by a resumed deploy of 0.1.0, which touches only the
hosts not on it) and deploys 0.1.1 (the `two_versions` store) into a fault.

After every fault the same questions: does each host run its old release or the new one,
whole (current, running and the answering app agree), and none stopped that was not?
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app
from tests.conftest import BuiltApp, CliResult, edit_config, run_cli, write_config

HOSTS = ("web1", "web2")
OLD, NEW = "0.1.0", "0.1.1"
DELIVER_TO = "~/faults"
HEALTH = """health_check:
  url: "http://127.0.0.1:{PORT}/"
  retries: 3
  interval: 0.3
"""


@dataclass
class Fleet:
    sandbox: Sandbox
    config: Path
    pristine: str
    store: Path

    def root(self, host: str) -> Path:
        return Path(self.sandbox.host(host).home) / DELIVER_TO.removeprefix("~/")

    def cli(self, *args: str) -> CliResult:
        return run_cli("--config", self.config, *args)

    def deploy(self, version: str = NEW, *flags: str) -> CliResult:
        return self.cli("deploy", "release", "to", "production", f"--version={version}", *flags)

    def host(self, host: str) -> tuple[str | None, str | None, str | None]:
        """(current, running, the version the app answers with) on `host`; None for none."""
        root = self.root(host)
        links = [
            os.readlink(root / name).removeprefix("releases/")
            if (root / name).is_symlink()
            else None
            for name in ("current", "running")
        ]
        try:
            answer: str | None = ask_app(self.sandbox, host).strip().removeprefix("hello ")
        except OSError:
            answer = None
        return links[0], links[1], answer

    def runs(self) -> dict[str, str | None]:
        """Each host's release, when the host is whole (current, running and the app agree):
        else an AssertionError saying what disagrees."""
        found = {}
        for host in HOSTS:
            current, running, answer = self.host(host)
            assert current == running == answer, (
                f"{host}: current {current}, running {running}, app {answer}"
            )
            found[host] = answer
        return found

    def assert_all(self, version: str) -> None:
        assert self.runs() == dict.fromkeys(HOSTS, version)

    def history(self, host: str) -> list[str]:
        text = (self.root(host) / "deliver.history").read_text()
        return [" ".join(line.split()[1:]) for line in text.splitlines()]

    def edit(self, change: Callable[[dict[str, Any]], None]) -> None:
        """The .deliver, changed as data for one case (the `fleet` fixture puts it back)."""
        edit_config(self.config, change)

    def hooks(self, **hooks: str) -> None:
        """Hooks (point: shell) for this case."""
        self.edit(lambda data: data.setdefault("hooks", {}).update(hooks))


@pytest.fixture(scope="package")
def fleet_base(
    sandbox: Sandbox, two_versions: BuiltApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    directory = tmp_path_factory.mktemp("faults")
    config = write_config(
        directory / "deliver.yml",
        sandbox,
        deliver_to=DELIVER_TO,
        store=two_versions.store,
        extra=HEALTH,
    )
    fleet = Fleet(sandbox, config, config.read_text(), two_versions.store)
    first = fleet.deploy(OLD, "--start-deploy")
    assert first.exit_code == 0, first.output
    yield fleet
    config.write_text(fleet.pristine)
    fleet.cli("stop", "production")


@pytest.fixture
def fleet(fleet_base: Fleet) -> Fleet:
    """The fleet, every host on 0.1.0 and up, the .deliver as it was, and 0.1.1 on no host
    (so that every case uploads and extracts it)."""
    fleet_base.config.write_text(fleet_base.pristine)
    try:
        fleet_base.assert_all(OLD)
    except AssertionError:
        back = fleet_base.deploy(OLD, "--start-deploy")
        assert back.exit_code == 0, back.output
        fleet_base.assert_all(OLD)
    for host in HOSTS:
        releases = fleet_base.root(host) / "releases"
        shutil.rmtree(releases / NEW, ignore_errors=True)
        for leftover in [*releases.glob(f"{NEW}.*"), *releases.glob(f".{NEW}.*")]:
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
    return fleet_base


@dataclass
class Running:
    """A real `deliver` process, its output read line by line as it comes."""

    process: subprocess.Popen[str]
    stdout: list[tuple[float, str]] = field(default_factory=list)
    stderr: list[tuple[float, str]] = field(default_factory=list)

    def wait_for(self, text: str, timeout: float = 60) -> float:
        """When a line holding `text` was printed (on either stream)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for when, line in [*self.stdout, *self.stderr]:
                if text in line:
                    return when
            if self.process.poll() is not None and not self._readers_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line with {text!r}:\n{self.output}")

    def interrupt(self) -> float:
        self.process.send_signal(signal.SIGINT)
        return time.monotonic()

    def finish(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    @property
    def output(self) -> str:
        return "".join(line for _, line in self.stdout + self.stderr)

    @property
    def err(self) -> str:
        return "".join(line for _, line in self.stderr)

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def __post_init__(self) -> None:
        self._readers = [
            threading.Thread(target=_read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.stdout),
                (self.process.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()


def _read(stream: IO[str] | None, lines: list[tuple[float, str]]) -> None:
    assert stream is not None
    for line in stream:
        lines.append((time.monotonic(), line))


def start_deliver(config: Path, *args: str) -> Running:
    """`deliver --config CONFIG ARGS` as its own process, as a user runs it in a terminal."""
    process = subprocess.Popen(
        [sys.executable, "-m", "deliver", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Running(process)
