"""The all-or-none switch of `deploy release` without --start-deploy, on this machine's shell
(two release roots standing for two hosts): a host whose connection drops is switched over a
new one; one that cannot be reached again sends the others back."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from deliver.commands.switching import Switch
from deliver.config import Config, HostSpec
from deliver.config.load import load_config
from deliver.errors import (
    ConnectionFailed,
    DeliverError,
    HostsFailed,
    RolloutStopped,
)
from deliver.output import Output
from deliver.transport.interrupts import watching_interrupts
from deliver.transport.local import LocalRemote
from deliver.transport.remote import Remote, Result

HOSTS = ("web1", "web2")


class Dropping(LocalRemote):
    """A host whose connection drops during the switch script, after it ran (`orphaned`: the
    script went on without its connection) or before."""

    def __init__(self, name: str, orphaned: bool) -> None:
        super().__init__(HostSpec(name, name))
        self.orphaned = orphaned

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        if step == "switching":
            if self.orphaned:
                super().run(command, step=step, check=check, stdin=stdin)
            raise ConnectionFailed(self.name, "connection lost")
        return super().run(command, step=step, check=check, stdin=stdin)


class Failing(LocalRemote):
    """Reached again, but its switch fails (and says why)."""

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        if step == "switching" and "releases/0.1.1" in command:
            raise DeliverError(f"{self.name}: cannot switch")
        return super().run(command, step=step, check=check, stdin=stdin)


@dataclass(frozen=True)
class Reconnecting(Switch):
    """Reconnects to what `again` names: a fresh connection, or why there is none."""

    again: dict[str, Remote | DeliverError] | None = None

    def reconnect(
        self, hosts: Sequence[HostSpec]
    ) -> tuple[dict[str, Remote], dict[str, DeliverError]]:
        assert self.again is not None
        found = {host.name: self.again[host.name] for host in hosts}
        fresh = {name: r for name, r in found.items() if not isinstance(r, DeliverError)}
        return fresh, {name: e for name, e in found.items() if isinstance(e, DeliverError)}


def hosts(tmp_path: Path, names: Sequence[str] = HOSTS) -> dict[str, str]:
    roots = {}
    for name in names:
        root = tmp_path / name
        for version in ("0.1.0", "0.1.1"):
            (root / "releases" / version).mkdir(parents=True)
        (root / "current").symlink_to("releases/0.1.0")
        roots[name] = str(root)
    return roots


def current(roots: dict[str, str]) -> dict[str, str]:
    return {name: os.readlink(f"{root}/current") for name, root in roots.items()}


def switch(roots: dict[str, str], again: dict[str, Remote | DeliverError]) -> Reconnecting:
    out = Output(io.StringIO(), io.StringIO(), color=False)
    before: dict[str, str | None] = dict.fromkeys(roots, "0.1.0")
    config = cast(Config, None)  # only reconnect uses it, and it is replaced here
    return Reconnecting(config, out, "0.1.1", roots, before, ExitStack(), again)


@pytest.mark.parametrize("orphaned", [True, False], ids=["switched-orphaned", "not-switched"])
def test_a_dropped_host_is_switched_over_a_new_connection(tmp_path: Path, orphaned: bool) -> None:
    roots = hosts(tmp_path)
    fresh = LocalRemote(HostSpec("web2", "web2"))
    step = switch(roots, {"web2": fresh})
    remotes = [LocalRemote(HostSpec("web1", "web1")), Dropping("web2", orphaned)]
    assert step.run(remotes) == {"web2": fresh}
    assert current(roots) == dict.fromkeys(HOSTS, "releases/0.1.1")


def test_a_host_that_cannot_be_reached_again_sends_the_others_back(tmp_path: Path) -> None:
    roots = hosts(tmp_path)
    step = switch(roots, {"web2": ConnectionFailed("web2", "Connection refused")})
    remotes = [LocalRemote(HostSpec("web1", "web1")), Dropping("web2", orphaned=False)]
    with pytest.raises(RolloutStopped) as stopped:
        step.run(remotes)
    assert list(stopped.value.errors) == ["web2"]
    assert str(stopped.value.errors["web2"]) == "cannot connect to web2: Connection refused"
    assert stopped.value.notes == ["switched back to 0.1.0: web1"]
    assert current(roots) == dict.fromkeys(HOSTS, "releases/0.1.0")


def test_a_host_reached_again_that_fails_goes_back_too(tmp_path: Path) -> None:
    """Its first switch may have gone on without its connection: it is put back as well."""
    roots = hosts(tmp_path)
    step = switch(roots, {"web2": Failing(HostSpec("web2", "web2"))})
    remotes = [LocalRemote(HostSpec("web1", "web1")), Dropping("web2", orphaned=True)]
    assert current(roots)["web2"] == "releases/0.1.0"
    with pytest.raises(RolloutStopped) as stopped:
        step.run(remotes)
    assert str(stopped.value.errors["web2"]) == "web2: cannot switch"
    assert sorted(stopped.value.notes) == [
        "switched back to 0.1.0: web1",
        "switched back to 0.1.0: web2",
    ]
    assert current(roots) == dict.fromkeys(HOSTS, "releases/0.1.0")


def test_without_revert_the_switched_hosts_stay(tmp_path: Path) -> None:
    roots = hosts(tmp_path)
    step = switch(roots, {"web2": ConnectionFailed("web2", "Connection refused")})
    remotes = [LocalRemote(HostSpec("web1", "web1")), Dropping("web2", orphaned=False)]
    with pytest.raises(HostsFailed) as failed:
        step.run(remotes, revert=False)
    assert not isinstance(failed.value, RolloutStopped)
    assert failed.value.succeeded == ["web1"]
    assert current(roots) == {"web1": "releases/0.1.1", "web2": "releases/0.1.0"}


class InterruptedThenDropping(Dropping):
    """Ctrl-C comes while this host switches, then its connection drops."""

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        if step == "switching":
            time.sleep(0.2)  # the other host's switch has begun
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler runs in the main thread
        return super().run(command, step=step, check=check, stdin=stdin)


def test_after_a_first_ctrl_c_a_dropped_host_is_still_reached_again_and_switched(
    tmp_path: Path,
) -> None:
    """The switch in flight finishes: the connection opens after the Ctrl-C too (to this
    machine, `localhost`, as the one host the config knows)."""
    roots = hosts(tmp_path, ("web1", "localhost"))
    path = tmp_path / "deliver.yml"
    path.write_text(
        "app: hello\nenvironments:\n  production:\n    hosts: [localhost]\n"
        f"    deliver_to: {tmp_path}\n"
    )
    out = Output(io.StringIO(), io.StringIO(), color=False)
    before: dict[str, str | None] = dict.fromkeys(roots, "0.1.0")
    step = Switch(load_config(path, environ={}), out, "0.1.1", roots, before, ExitStack())
    remotes = [LocalRemote(HostSpec("web1", "web1")), InterruptedThenDropping("localhost", False)]
    with watching_interrupts(lambda text: None) as watch:
        fresh = step.run(remotes)
        assert watch.stopping
    assert list(fresh) == ["localhost"]
    assert current(roots) == {"web1": "releases/0.1.1", "localhost": "releases/0.1.1"}
