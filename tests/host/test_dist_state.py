"""read_node_state: the host's state and where its node is, in one command, run for real with
/bin/sh on this machine (LocalRemote) over release roots laid out as deploys leave them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.host.dist import (
    AddressedState,
    Unavailable,
    address_for,
    read_node_state,
    with_address,
)
from deliver.host.layout import read_state
from deliver.transport.local import LocalRemote
from deliver.transport.remote import Result
from tests.host.test_scripts import APP, HOST, add_release, link, new_root


class Counting(LocalRemote):
    """This machine, counting the commands run (each would be a round trip to a host)."""

    def __init__(self) -> None:
        super().__init__(HOST)
        self.commands: list[str] = []

    def run(self, command: str, **options: object) -> Result:  # type: ignore[override]
        self.commands.append(command)
        return super().run(command, **options)  # type: ignore[arg-type]


def mix_release(root: Path, version: str, env_sh: str, cookie: str = "c00kie") -> None:
    """releases/<version>/ of a mix release: start_erl.data, env.sh and releases/COOKIE."""
    directory = add_release(root, version, boots=version)
    (directory / "releases" / version).mkdir()
    (directory / "releases" / version / "env.sh").write_text(env_sh)
    (directory / "releases" / "COOKIE").write_text(cookie)


def test_the_state_and_the_node_address_come_in_one_command(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    mix_release(root, "0.1.0", "export RELEASE_DISTRIBUTION=name RELEASE_NODE=hello@127.0.0.1\n")
    mix_release(root, "0.2.0", "echo noise; export RELEASE_NODE=other\n", cookie="newer")
    link(root / "current", "releases/0.2.0")
    link(root / "running", "releases/0.1.0")
    (root / "deliver.env").write_text("ERL_EPMD_PORT=4400\n")
    remote = Counting()

    state = read_node_state(remote, str(root), APP)

    assert len(remote.commands) == 1
    assert isinstance(state, AddressedState) and state.address is not None
    plain = read_state(remote, str(root), APP)
    assert (state.root, state.current, state.running, state.tool) == (
        plain.root,
        plain.current,
        plain.running,
        plain.tool,
    )
    assert state.env_sha256 == plain.env_sha256 is not None
    # the running node's address, not current's: its name, its host's epmd, its cookie
    address = address_for(remote, state, APP, "running")
    assert (address.alive, address.node_host, address.epmd_port) == ("hello", "127.0.0.1", 4400)
    assert address.cookie.value == "c00kie" and "c00kie" not in repr(state)
    assert len(remote.commands) == 2  # (read_state above) nothing more was asked
    # current is another directory than running: its node's address is read when asked
    assert address_for(remote, state, APP, "current").alive == "other"
    assert len(remote.commands) == 3


def test_a_node_without_running_is_current_s(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    mix_release(root, "0.1.0", "")
    link(root / "current", "releases/0.1.0")
    remote = Counting()
    state = read_node_state(remote, str(root), APP)
    for directory in ("running", "current"):
        address = address_for(remote, state, APP, directory)
        assert (address.alive, address.node_host, address.epmd_port) == ("hello", "localhost", 4369)
    assert len(remote.commands) == 1


@pytest.mark.parametrize(
    ("env_sh", "tool", "cookie", "why"),
    [
        ("export RELEASE_DISTRIBUTION=none\n", "mix", "c", "the release's distribution is off"),
        ("", "custom", "c", "deliver does not know where custom releases' nodes listen"),
        ("", "mix", "", "cannot read the node's cookie"),
        ("exit 3\n", "mix", "c", "cannot tell the node's name"),
    ],
)
def test_why_a_node_cannot_be_asked_is_kept_for_the_fallback(
    tmp_path: Path, env_sh: str, tool: str, cookie: str, why: str
) -> None:
    root = new_root(tmp_path)
    mix_release(root, "0.1.0", env_sh, cookie=cookie)
    (root / "releases" / "0.1.0" / ".deliver-tool").write_text(f"{tool}\n")
    link(root / "current", "releases/0.1.0")
    state = read_node_state(LocalRemote(HOST), str(root), APP)
    assert isinstance(state, AddressedState) and state.tool == tool
    with pytest.raises(Unavailable, match=why):
        address_for(LocalRemote(HOST), state, APP, "running")


def test_a_host_with_nothing_deployed_is_refused_as_read_state_does(tmp_path: Path) -> None:
    from deliver.errors import NodeError

    with pytest.raises(NodeError, match="no release of hello is deployed in"):
        read_node_state(LocalRemote(HOST), str(tmp_path / "none"), APP)


def test_a_state_read_before_gets_its_node_address_once(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    mix_release(root, "0.1.0", "export RELEASE_NODE=web\n")
    link(root / "current", "releases/0.1.0")
    link(root / "running", "releases/0.1.0")
    remote = Counting()
    state = with_address(remote, read_state(LocalRemote(HOST), str(root), APP), APP)
    assert address_for(remote, state, APP, "running").alive == "web"
    assert address_for(remote, state, APP, "running").alive == "web"
    assert len(remote.commands) == 1
