"""`dist: {interface: loopback}`: the node's Erlang distribution bound to 127.0.0.1 through
ERL_AFLAGS in the host's env file, `deliver check config` warning where it is not, and a real
sandbox node that then listens on loopback only.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from deliver.config import Environment, HostSpec
from deliver.config.load import load_config
from deliver.errors import ConfigError
from deliver.host.unpack import node_env_text
from deliver.sandbox import Sandbox
from deliver.shell import Secret
from tests.commands.test_deploy import on_host
from tests.conftest import edit_config, host_entry, run_cli

CONFIG = """\
app: hello
environments:
  production:
    deliver_to: ~/hello
    hosts: [web1.example.com]
    dist: {interface: loopback}
  staging:
    deliver_to: ~/hello
    hosts: [staging.example.com]
    dist: {interface: all}
  qa:
    deliver_to: ~/hello
    hosts: [qa.example.com]
"""
FLAGS = "-kernel inet_dist_use_interface {127,0,0,1}"
HOST = HostSpec.parse("web1")


def test_dist_is_read_per_environment(tmp_path: Path) -> None:
    (tmp_path / ".deliver").write_text(CONFIG)
    config = load_config(tmp_path / ".deliver", environ={})
    interfaces = {name: env.dist_interface for name, env in config.environments.items()}
    assert interfaces == {"production": "loopback", "staging": "all", "qa": None}


@pytest.mark.parametrize(
    ("dist", "problem"),
    [
        ("{interface: public}", "dist.interface: expected loopback or all, got 'public'"),
        ("{interface: 127.0.0.1}", "dist.interface: expected loopback or all, got '127.0.0.1'"),
        ("{}", "dist.interface: expected a non-empty string, got nothing"),
        ("{port: 9100}", "dist.port: unknown key (expected one of: interface)"),
        ("loopback", "dist: expected a mapping, got 'loopback'"),
    ],
)
def test_a_bad_dist_is_refused(tmp_path: Path, dist: str, problem: str) -> None:
    path = tmp_path / ".deliver"
    path.write_text(CONFIG.replace("dist: {interface: loopback}", f"dist: {dist}"))
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert str(refused.value) == f"{path}: environments.production.{problem}"


def test_the_env_file_binds_the_distribution_and_keeps_erl_aflags(tmp_path: Path) -> None:
    env = Environment("production", (HOST,), "~/hello", {"PORT": "4000"}, dist_interface="loopback")
    text = node_env_text(env, HOST)
    assert text == (f'export PORT=4000\nexport ERL_AFLAGS="${{ERL_AFLAGS:+$ERL_AFLAGS }}{FLAGS}"\n')
    assert node_env_text(Environment("x", (HOST,), "~", {"PORT": "1"}), HOST) == ("export PORT=1\n")
    # sourced as every node command sources it: after the user's own ERL_AFLAGS (from the
    # config, a secret here, or the host's environment), or alone
    user = {"ERL_AFLAGS": Secret("+S 2 -hello_marker 'a b'")}
    for own, expected in [
        (user, f"+S 2 -hello_marker 'a b' {FLAGS}"),
        ({}, FLAGS),
    ]:
        env_file = tmp_path / "deliver.env"
        env_file.write_text(
            node_env_text(Environment("x", (HOST,), "~", own, dist_interface="loopback"), HOST)
        )
        shell = f"set -a; . {env_file}; set +a; printf '%s' \"$ERL_AFLAGS\""
        done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, env={})
        assert done.stdout == expected
    inherited = subprocess.run(
        ["sh", "-c", f"set -a; . {env_file}; set +a; printf '%s' \"$ERL_AFLAGS\""],
        capture_output=True,
        text=True,
        env={"ERL_AFLAGS": "+A 4"},
    )
    assert inherited.stdout == f"+A 4 {FLAGS}"


def test_check_config_warns_where_the_distribution_is_not_bound(tmp_path: Path) -> None:
    (tmp_path / ".deliver").write_text(CONFIG)
    checked = run_cli("--config", tmp_path / ".deliver", "check", "config")
    assert checked.exit_code == 0, checked.output
    assert (
        "production: web1.example.com -> ~/hello (primary web1.example.com, dist: loopback)"
        in checked.stdout
    )
    assert (
        "staging: staging.example.com -> ~/hello (primary staging.example.com, dist: all)"
        in checked.stdout
    )
    assert checked.stderr == (
        "warning: qa: the nodes' Erlang distribution listens on every interface: whoever "
        "reaches its port with the cookie runs code as the deploy user; set "
        "environments.qa.dist.interface: loopback (or all to keep it)\n"
    )


def listening(port: int) -> set[str]:
    """The local addresses (IPv4 and IPv6) listening on `port` on this machine, which the
    sandbox hosts share: from /proc/net/tcp*, as `ss -ltn` would show them."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, in host (little-endian) byte order
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return "::" if set(hex_address) == {"0"} else hex_address


def dist_port(sandbox: Sandbox, host: str) -> int:
    """The node's distribution port, from the host's own epmd (its ERL_EPMD_PORT)."""
    names = on_host(sandbox, host, "epmd -names")
    match = re.search(r"^name hello at port (\d+)$", names, re.MULTILINE)
    assert match, names
    return int(match[1])


@pytest.mark.slow
def test_a_node_with_dist_loopback_listens_on_127_0_0_1_only(
    sandbox: Sandbox, deployment: Path
) -> None:
    def named_on_loopback(data: dict[str, object]) -> None:
        # the name's host must resolve to 127.0.0.1 for the control commands (stop, ping,
        # rpc) to reach a node that listens there only: Debian maps the host name to
        # 127.0.1.1, so name the node by the address, as the README says
        entry = host_entry(data, "web1")
        entry["env"].update(
            RELEASE_DISTRIBUTION="name",
            RELEASE_NODE="hello@127.0.0.1",
            ERL_AFLAGS="-hello_marker kept",
        )

    edit_config(deployment, named_on_loopback)
    args = ("--config", deployment, "deploy", "release", "production", "--host=web1")
    first = run_cli(*args, "--start-deploy")
    assert first.exit_code == 0, first.output
    assert listening(dist_port(sandbox, "web1")) == {"0.0.0.0"}  # Erlang's default

    edit_config(
        deployment,
        lambda data: data["environments"]["production"].update(dist={"interface": "loopback"}),
    )
    second = run_cli(*args, "--start-deploy")
    assert second.exit_code == 0, second.output
    assert listening(dist_port(sandbox, "web1")) == {"127.0.0.1"}
    ping = run_cli("--config", deployment, "ping", "production", "--host=web1")
    assert ping.exit_code == 0, ping.output
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    marker = on_host(
        sandbox,
        "web1",
        f"cd {deliver_to} && set -a && . ./deliver.env && cd current && "
        "bin/hello rpc 'IO.inspect(:init.get_argument(:hello_marker))'",
    )
    assert marker == "{:ok, [['kept']]}"  # the user's ERL_AFLAGS are still there
