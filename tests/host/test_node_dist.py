"""Questions to real sandbox nodes over their Erlang distribution, on the SSH connection:
mix (-sname, and -name on loopback only) and rebar3 releases, a wrong cookie, a node that is
down, one whose app never starts; and the start script as the fallback."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from deliver.config import HostSpec, SshSettings
from deliver.errors import NodeError
from deliver.host.dist import (
    Unavailable,
    node_session,
    parse_address,
    pid_and_version,
    read_address,
    read_node_state,
)
from deliver.host.layout import read_state
from deliver.host.node import node_version, ping_node, start_node, stop_node
from deliver.sandbox import Sandbox
from deliver.transport.erlterm import Atom, Pid
from deliver.transport.remote import Result
from deliver.transport.ssh import SshRemote
from tests.commands.test_deploy import on_host
from tests.conftest import REPO, edit_config, git, host_entry, run_cli

HOST_NAME = socket.gethostname().split(".")[0]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("DIST=sname\nNODE=hello\nCOOKIE-FOLLOWS\nc00kie\n", ("hello", "localhost", 4369, None)),
        (
            "EPMD_PORT=4400\nDIST=name\nNODE=hello@10.0.0.5\nCOOKIE-FOLLOWS\nc",
            ("hello", "10.0.0.5", 4400, None),
        ),
        ("DIST=name\nNODE=a\nDIST_PORT=9100\nCOOKIE-FOLLOWS\nc", ("a", "127.0.0.1", 4369, 9100)),
    ],
)
def test_the_address_a_release_gives(output: str, expected: tuple[object, ...]) -> None:
    address = parse_address(output)
    assert (address.alive, address.node_host, address.epmd_port, address.dist_port) == expected
    assert address.cookie.value in ("c00kie", "c") and str(address.cookie) == "****"


@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("DIST=none\nNODE=hello\nCOOKIE-FOLLOWS\nc", "distribution is off"),
        ("DIST=\nNODE=\nCOOKIE-FOLLOWS\nc", "cannot tell the node's name"),
        ("DIST=sname\nNODE=$(reboot)\nCOOKIE-FOLLOWS\nc", "cannot tell the node's name"),
        ("DIST=name\nNODE=a@b;c\nCOOKIE-FOLLOWS\nc", "cannot tell the node's host"),
        ("DIST=sname\nNODE=hello\nCOOKIE-FOLLOWS\n", "cannot read the node's cookie"),
        ("DIST=sname\nNODE=hello\n", "cannot tell"),
        ("EPMD_PORT=99999\nDIST=sname\nNODE=a\nCOOKIE-FOLLOWS\nc", "not a port"),
        ("DIST_PORT=1e3\nDIST=sname\nNODE=a\nCOOKIE-FOLLOWS\nc", "not a port"),
    ],
)
def test_an_address_deliver_cannot_use_is_unavailable(output: str, why: str) -> None:
    with pytest.raises(Unavailable, match=why):
        parse_address(output)


class Recording:
    """A real SSH connection that remembers the commands run through it, without what asking
    a node over its distribution needs (like a transport that cannot open TCP channels)."""

    def __init__(self, remote: SshRemote) -> None:
        self.remote, self.name, self.host = remote, remote.name, remote.host
        self.commands: list[str] = []

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        self.commands.append(command)
        return self.remote.run(command, step=step, check=check, stdin=stdin)

    def upload(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("questions upload nothing")

    def download(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("questions download nothing")

    def close(self) -> None:
        self.remote.close()

    def booted_vms(self, app: str) -> list[str]:
        """The commands that ran the release's start script (each boots a VM on the host)."""
        return [c for c in self.commands if f"bin/{app} " in c]


class RecordingLink(Recording):
    """The same, with the distribution channel: `notes` are what --verbose would say."""

    def __init__(self, remote: SshRemote) -> None:
        super().__init__(remote)
        self.notes: list[str] = []

    def open_tcp(self, port: int, timeout: float) -> object:
        return self.remote.open_tcp(port, timeout)

    def run_private(self, command: str) -> Result:
        self.commands.append(command)
        return self.remote.run_private(command)

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.fixture
def web1(sandbox: Sandbox) -> Iterator[SshRemote]:
    settings = SshSettings(config_file=sandbox.ssh_config, known_hosts=sandbox.known_hosts)
    remote = SshRemote(HostSpec.parse("web1"), settings).open()
    yield remote
    remote.close()


def deliver_to_of(config: Path) -> str:
    return config.read_text().split("deliver_to: ")[1].split()[0]


def deploy_started(config: Path, host: str = "web1") -> None:
    started = run_cli(
        "--config", config, "deploy", "release", "production", "--start-deploy", f"--host={host}"
    )
    assert started.exit_code == 0, started.output


def os_pid(sandbox: Sandbox, host: str, deliver_to: str, app: str) -> str:
    """The node's OS pid as its start script finds it (a VM of its own)."""
    script = f"cd {deliver_to} && set -a && . ./deliver.env && cd running && "
    command = "bin/counter_erl pid" if app == "counter_erl" else "bin/hello pid"
    return on_host(sandbox, host, script + command)


@pytest.mark.slow
def test_a_mix_node_answers_over_its_distribution_without_a_vm_on_the_host(
    sandbox: Sandbox, deployment: Path, web1: SshRemote
) -> None:
    deploy_started(deployment)
    state = read_state(web1, deliver_to_of(deployment), "hello")
    asked = RecordingLink(web1)
    pid = os_pid(sandbox, "web1", deliver_to_of(deployment), "hello")
    assert ping_node(asked, state, "hello").detail == f"pong (pid {pid})"
    assert node_version(asked, state, "hello").version == "0.1.0"
    assert asked.booted_vms("hello") == [] and asked.notes == []
    # the state and the node's address read in one command: no other before the channel
    counted = RecordingLink(web1)
    addressed = read_node_state(counted, deliver_to_of(deployment), "hello")
    assert ping_node(counted, addressed, "hello").detail == f"pong (pid {pid})"
    assert node_version(counted, addressed, "hello").version == "0.1.0"
    assert len(counted.commands) == 1 and counted.notes == []

    address = read_address(web1, state.root, "mix", "hello", "running")
    with node_session(web1, address) as node:
        assert node.node() == f"hello@{HOST_NAME}"
        assert node.os_pid() == int(pid) and node.started("hello")
        assert isinstance(node.rpc("erlang", "whereis", [Atom("rex")]), Pid)
        assert node.rpc("lists", "reverse", [[1, 2, 3]]) == [3, 2, 1]
    assert pid_and_version(web1, state.root, "mix", "hello") == (int(pid), "0.1.0")

    # a transport without the channel asks the start script, with the same answers
    fallback = Recording(web1)
    assert ping_node(fallback, state, "hello").detail == f"pong (pid {pid})"
    assert node_version(fallback, state, "hello").version == "0.1.0"
    assert len(fallback.booted_vms("hello")) == 2

    assert stop_node(asked, state, "hello", timeout=30).detail == "stopped 0.1.0"
    assert asked.booted_vms("hello") == []
    assert on_host(sandbox, "web1", f"test -d /proc/{pid} && echo running || echo gone") == "gone"


@pytest.mark.slow
def test_a_long_name_node_bound_to_loopback_is_asked_from_the_host_itself(
    deployment: Path,
) -> None:
    def named_on_loopback(data: dict[str, object]) -> None:
        host_entry(data, "web1")["env"].update(
            RELEASE_DISTRIBUTION="name", RELEASE_NODE="hello@127.0.0.1"
        )
        data["environments"]["production"].update(dist={"interface": "loopback"})  # type: ignore[attr-defined]

    edit_config(deployment, named_on_loopback)
    args = ("--config", deployment, "--verbose")
    started = run_cli(*args, "deploy", "release", "production", "--start-deploy", "--host=web1")
    assert started.exit_code == 0, started.output
    assert "web1: started 0.1.0 (pid" in started.stdout
    ping = run_cli(*args, "ping", "production", "--host=web1")
    version = run_cli(*args, "version", "production", "--host=web1")
    assert ping.exit_code == 0 and "web1: pong (pid" in ping.stdout, ping.output
    assert version.exit_code == 0 and "web1: 0.1.0" in version.stdout, version.output
    for said in (ping, version):  # (the deploy's stop found no node before: it said so)
        assert "instead of the node itself" not in said.output


@pytest.mark.slow
def test_a_node_that_is_down_falls_back_to_the_start_script_said_once(
    sandbox: Sandbox, deployment: Path
) -> None:
    deployed = run_cli("--config", deployment, "deploy", "release", "production", "--host=web1")
    assert deployed.exit_code == 0, deployed.output
    ping = run_cli("--config", deployment, "--verbose", "ping", "production", "--host=web1")
    assert ping.exit_code == 1
    assert "web1: not running (0.1.0 is deployed)" in ping.stderr
    note = (
        "web1 | asking bin/hello (a VM on the host) instead of the node itself: no node hello "
        f"is registered with epmd on port {sandbox.host('web1').epmd_port}"
    )
    assert ping.stdout.count(note) == 1, ping.stdout
    quiet = run_cli("--config", deployment, "ping", "production", "--host=web1")
    assert quiet.exit_code == 1 and "instead of the node itself" not in quiet.output


@pytest.mark.slow
def test_a_node_with_another_cookie_is_a_clear_error_not_a_hang(
    sandbox: Sandbox, deployment: Path
) -> None:
    deploy_started(deployment)
    cookie = f"{deliver_to_of(deployment)}/running/releases/COOKIE"
    on_host(
        sandbox, "web1", f"cp {cookie} {cookie}.kept && chmod u+w {cookie} && echo other > {cookie}"
    )
    try:
        ping = run_cli("--config", deployment, "ping", "production", "--host=web1")
        version = run_cli("--config", deployment, "version", "production", "--host=web1")
    finally:
        on_host(sandbox, "web1", f"chmod u+w {cookie} && mv {cookie}.kept {cookie}")
    for asked in (ping, version):
        assert asked.exit_code == 1, asked.output
        assert "web1: the node refused deliver's cookie" in asked.stderr
        assert "hint: the node runs with another cookie than its release" in asked.stderr
        assert "Traceback" not in asked.output


@pytest.mark.slow
def test_a_node_up_without_its_app_is_not_reported_started_nor_launched_again(
    sandbox: Sandbox, deployment: Path, web1: SshRemote
) -> None:
    deploy_started(deployment)
    deliver_to = deliver_to_of(deployment)
    state = read_state(web1, deliver_to, "hello")
    pid = os_pid(sandbox, "web1", deliver_to, "hello")
    on_host_node = f"cd {deliver_to} && set -a && . ./deliver.env && cd running && bin/hello"
    on_host(sandbox, "web1", f"{on_host_node} rpc 'Application.stop(:hello)'")
    try:
        with pytest.raises(NodeError, match="web1: the node answers, but hello is not started"):
            ping_node(RecordingLink(web1), state, "hello")
        asked = RecordingLink(web1)
        with pytest.raises(NodeError) as waited:
            start_node(asked, state, "hello", timeout=1)
        assert (
            "web1: 0.1.0 did not answer within 1s (last: the node answers, but hello is not "
            "started); last lines of its log:"
        ) in str(waited.value)
        assert not any(" daemon" in command for command in asked.commands)  # not launched
        assert os_pid(sandbox, "web1", deliver_to, "hello") == pid
        on_host(sandbox, "web1", f"{on_host_node} rpc 'Application.ensure_all_started(:hello)'")
        again = start_node(RecordingLink(web1), state, "hello", timeout=5)
        assert again.detail == f"already running 0.1.0 (pid {pid})"
    finally:
        on_host(sandbox, "web1", f"{on_host_node} stop")


@pytest.fixture(scope="module")
def rebar3_release(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rebar3 sample (counter_erl: -sname in vm.args, -setcookie) built once."""
    repo = tmp_path_factory.mktemp("dist-rebar3") / "counter_erl"
    shutil.copytree(REPO / "examples/counter_erl", repo, ignore=shutil.ignore_patterns("upgrade"))
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("/.deliver-releases/\n/.deliver\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "counter_erl 0.1.0")
    config = repo / ".deliver"
    config.write_text(
        sandbox.deliver_config("counter_erl", deliver_to="~/dist_rebar3")
        + f"release_store: {repo / '.deliver-releases'}\n"
    )
    built = run_cli("--config", config, "build", "release")
    assert built.exit_code == 0, built.output
    return config


@pytest.mark.slow
def test_a_rebar3_node_answers_over_its_distribution(
    sandbox: Sandbox, rebar3_release: Path, web1: SshRemote
) -> None:
    deploy_started(rebar3_release)
    try:
        state = read_state(web1, "~/dist_rebar3", "counter_erl")
        asked = RecordingLink(web1)
        pid = os_pid(sandbox, "web1", "~/dist_rebar3", "counter_erl")
        assert ping_node(asked, state, "counter_erl").detail == f"pong (pid {pid})"
        assert node_version(asked, state, "counter_erl").version == "0.1.0"
        assert asked.booted_vms("counter_erl") == [] and asked.notes == []
        counted = RecordingLink(web1)
        addressed = read_node_state(counted, "~/dist_rebar3", "counter_erl")
        assert ping_node(counted, addressed, "counter_erl").detail == f"pong (pid {pid})"
        assert len(counted.commands) == 1 and counted.notes == []
        address = read_address(web1, state.root, "rebar3", "counter_erl", "running")
        with node_session(web1, address) as node:
            assert node.node() == f"counter_erl@{HOST_NAME}"
            # a task (migrations) in Erlang, evaluated inside the node as relx's eval would
            assert node.evaluate("rebar3", "lists:sum([1, 2, 3])", 10) == (True, "6\n")
            failed, error = node.evaluate("rebar3", "1 = 2.", 10)
            assert not failed and error.startswith("error:{badmatch,2}")
        restarted = run_cli("--config", rebar3_release, "restart", "production", "--host=web1")
        assert restarted.exit_code == 0, restarted.output
        new_pid = os_pid(sandbox, "web1", "~/dist_rebar3", "counter_erl")
        assert f"web1: started 0.1.0 (pid {new_pid})" in restarted.stdout and new_pid != pid
    finally:
        run_cli("--config", rebar3_release, "stop", "production")
