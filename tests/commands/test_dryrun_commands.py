"""`--dry-run --debug` prints the commands the real run sends: a dry run and then the real
deploy of the same release, on the same fresh hosts, the real one recorded through the seam
every deploy host's connection goes through (host/private.py's PrivateRemote). Every command
the real run sends that changes a host is one the dry run printed, character for character
(but for the time in a history line)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deliver.host.private import PrivateRemote
from deliver.transport.dryrun import DryRunRemote
from tests.conftest import run_cli

#: The steps a real deploy runs that read and change nothing, or that a dry run leaves out
#: on purpose (the deploy lock is not taken; its release is not a step of the plan).
READING = re.compile(r"reading|checking|waiting|asking|lock|health")
#: Steps whose later commands depend on what the node answers (over its distribution where
#: it can be asked): the dry run prints the commands of asking its start script instead.
NODE_STEPS = {"stopping the node", "starting the node"}
#: A history line's time (layout.record): the only part of a command that is the clock's.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """(host, step, command) of every command and stream sent over a deploy host's
    connection while the test runs."""
    sent: list[tuple[str, str]] = []
    run, feed = PrivateRemote.run, PrivateRemote.feed

    def recording_run(self: PrivateRemote, command: str, **kwargs: Any) -> Any:
        sent.append((self.name, f"{kwargs.get('step') or 'command'}\0{command}"))
        return run(self, command, **kwargs)

    def recording_feed(self: PrivateRemote, command: str, source: Path, **kwargs: Any) -> Any:
        sent.append((self.name, f"{kwargs.get('step') or 'feed'}\0{command}"))
        return feed(self, command, source, **kwargs)

    monkeypatch.setattr(PrivateRemote, "run", recording_run)
    monkeypatch.setattr(PrivateRemote, "feed", recording_feed)
    yield sent


@pytest.fixture
def dry_remotes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[DryRunRemote]]:
    """Every DryRunRemote made while the test runs."""
    made: list[DryRunRemote] = []
    init = DryRunRemote.__init__

    def remember(self: DryRunRemote, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(DryRunRemote, "__init__", remember)
    yield made


def _changing(sent: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The (host, step, command) that change a host, the time of history lines blanked."""
    out = []
    for host, both in sent:
        step, command = both.split("\0", 1)
        # the audit line is written as the deploy lock is given back: no lock, no line
        if not READING.search(step) and "deliver.audit" not in command:
            out.append((host, step, TIME.sub("TIME", command)))
    return out


@pytest.mark.slow
def test_a_dry_run_prints_the_commands_the_deploy_then_sends(
    versions_deployment: Path,
    recorded: list[tuple[str, str]],
    dry_remotes: list[DryRunRemote],
) -> None:
    config = versions_deployment
    words = ("deploy", "release", "production", "--version", "0.1.0", "--start-deploy")
    words += ("--run-migrations",)
    dry = run_cli("--config", config, "--dry-run", "--debug", *words)
    assert dry.exit_code == 0, dry.output
    printed = [
        (remote.name, f"{r.step}\0{r.command}") for remote in dry_remotes for r in remote.recorded
    ]
    for host, both in printed:
        step, command = both.split("\0", 1)
        assert f"{host} $ (not run: {step}) {command}" in dry.stderr, (host, step)
    recorded.clear()  # the dry run's probes went through the seam too

    real = run_cli("--config", config, *words)
    assert real.exit_code == 0, real.output
    sent = _changing(recorded)
    would = _changing(printed)
    steps = {step for _, step, _ in sent}
    assert {"preflight", "uploading and extracting", "switching"} <= steps, steps
    assert "running the migrations" in steps, steps
    for host in ("web1", "web2"):
        assert {s for h, s, _ in would if h == host} >= NODE_STEPS
    missing = [c for c in sent if c not in would and c[1] not in NODE_STEPS]
    assert not missing, "\n\n".join(f"{h} [{s}]\n{c}" for h, s, c in missing)

    # `migrate` with the nodes stopped: its task runs by `bin/hello eval`, one command
    assert run_cli("--config", config, "stop", "production").exit_code == 0
    dry_remotes.clear()
    dry_migrate = run_cli("--config", config, "--dry-run", "--debug", "migrate", "production")
    assert dry_migrate.exit_code == 0, dry_migrate.output
    printed = [(r.name, f"{c.step}\0{c.command}") for r in dry_remotes for c in r.recorded]
    recorded.clear()
    migrated = run_cli("--config", config, "migrate", "production")
    assert migrated.exit_code == 0, migrated.output
    sent = [c for c in _changing(recorded) if c[1] == "migrating up"]
    assert len(sent) == 1 and sent[0][0] == "web1", recorded
    assert sent[0] in _changing(printed)
    assert f"web1 $ (not run: migrating up) {sent[0][2]}" in dry_migrate.stderr
