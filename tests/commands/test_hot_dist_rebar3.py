"""A rebar3/relx hot upgrade asks the node itself over its Erlang distribution: the unpack,
check_install_release, install_release and make_permanent that relx's
install_upgrade.escript would make from a second VM booted on the host (`bin/<rel> unpack|
upgrade`) are evaluated by the node. The node keeps its OS pid and runs the new version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from deliver.host import dist, node
from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids

pytestmark = pytest.mark.slow

#: The start script's commands that boot a second VM to drive the release handler.
RELX_SCRIPT = ("bin/counter_erl unpack", "bin/counter_erl upgrade", "bin/counter_erl downgrade")


def test_a_rebar3_upgrade_and_downgrade_are_calls_over_the_distribution(
    hosts: Hosts, rebar3_app: UpgradeApp
) -> None:
    config = hosts.config(rebar3_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    hosts.incr("web1", 2)
    started = pids(config)

    upgraded = ok(deliver(config, "--debug", "deploy", "upgrade", "to", "production"))
    for host, pid in started.items():
        assert f"{host}: 0.1.0 -> 0.2.0, hot (pid {pid} kept" in upgraded.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == "counter_erl 0.2.0" and hosts.ask("web2") == "counter_erl 0.2.0"
    assert hosts.ask("web1", "/state") == rebar3_app.state_after.replace("3", "2")
    # no command carried relx's upgrade script, nor the check by the start script's eval
    for command in RELX_SCRIPT:
        assert command not in upgraded.output
    assert "install_upgrade.escript" not in upgraded.output
    assert "release_handler:check_install_release" not in upgraded.output
    assert "instead of the node itself" not in upgraded.output
    # as relx's `upgrade`: permanent (a restart boots 0.2.0), bin/<rel> of the new version
    assert hosts.sh("web1", "cut -d' ' -f2 releases/0.1.0/releases/start_erl.data") == "0.2.0"
    assert (
        hosts.sh(
            "web1",
            "cmp releases/0.1.0/bin/counter_erl-0.2.0 releases/0.1.0/bin/counter_erl && echo same",
        )
        == "same"
    )

    downgraded = ok(deliver(config, "--debug", "downgrade", "production", "--version=0.1.0"))
    assert "web1: 0.2.0 -> 0.1.0, hot" in downgraded.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == "counter_erl 0.1.0"
    for command in RELX_SCRIPT:
        assert command not in downgraded.output


@contextmanager
def _unreachable(*args: object, **kwargs: object) -> Iterator[None]:
    """A distribution deliver cannot reach (say, `AllowTcpForwarding no` on the host)."""
    raise dist.Unavailable("the node's distribution cannot be reached (closed by the test)")
    yield


def test_without_the_distribution_relx_s_script_upgrades_the_node(
    hosts: Hosts, rebar3_app: UpgradeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hosts.config(rebar3_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)
    monkeypatch.setattr(dist, "node_session", _unreachable)
    monkeypatch.setattr(node, "node_session", _unreachable)

    upgraded = ok(deliver(config, "--debug", "deploy", "upgrade", "production", "--host=web1"))
    assert f"web1: 0.1.0 -> 0.2.0, hot (pid {started['web1']} kept" in upgraded.stdout
    assert "bin/counter_erl unpack" in upgraded.output
    assert "bin/counter_erl upgrade" in upgraded.output
    assert "instead of the node itself: the node's distribution cannot be reached" in (
        upgraded.output
    )
    monkeypatch.undo()
    assert pids(config) == started
    assert hosts.ask("web1") == "counter_erl 0.2.0" and hosts.ask("web2") == "counter_erl 0.1.0"


def test_a_check_the_node_refuses_names_the_host_and_switches_no_node(
    hosts: Hosts, rebar3_app: UpgradeApp
) -> None:
    config = hosts.config(rebar3_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)
    # a directory where 0.2.0's module must go: the node's unpack of the archive fails there
    beam = "releases/0.1.0/lib/counter_erl-0.2.0/ebin/counter_erl_server.beam"
    hosts.sh("web2", f"mkdir -p {beam}")

    refused = deliver(config, "deploy", "upgrade", "production")
    assert refused.exit_code != 0
    assert "upgrade check failed on 1 host(s): web2" in refused.stderr
    assert "web2: the release handler cannot install 0.2.0 (the node runs 0.1.0)" in (
        refused.stderr
    )
    # the node's own words, not a traceback
    assert "release_handler:check_install_release failed" in refused.stderr
    assert "counter_erl_server.beam" in refused.stderr
    assert "Traceback" not in refused.output
    assert pids(config) == started
    assert hosts.ask("web1") == "counter_erl 0.1.0" and hosts.ask("web2") == "counter_erl 0.1.0"

    # once the cause is gone, a retry (the release is unpacked: the module it lacks is
    # extracted again) goes through
    hosts.sh("web2", f"rmdir {beam}")
    upgraded = ok(deliver(config, "deploy", "upgrade", "production"))
    assert f"web2: 0.1.0 -> 0.2.0, hot (pid {started['web2']} kept" in upgraded.stdout
    assert hosts.ask("web2") == "counter_erl 0.2.0"
