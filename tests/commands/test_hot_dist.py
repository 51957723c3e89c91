"""A hot upgrade's check_install_release and install_release go to the node over its Erlang
distribution (no VM booted on the host to pass them on)."""

from __future__ import annotations

import re

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids

pytestmark = pytest.mark.slow


INSTALL = ":release_handler.install_release("


def _sent_by_script(output: str) -> list[str]:
    """The hosts whose commands (as --debug prints them: `host $ ` then the script's lines)
    held install_release: those asked through the start script."""
    hosts = []
    for found in re.finditer(re.escape(INSTALL), output):
        hosts += re.findall(r"^(web\d) \$ ", output[: found.start()], flags=re.MULTILINE)[-1:]
    return hosts


def test_the_check_and_the_install_are_rpcs_over_the_distribution(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    config = hosts.config(mix_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)

    upgraded = ok(deliver(config, "--debug", "deploy", "upgrade", "to", "production"))
    for host, pid in started.items():
        assert re.search(rf"{host}: 0\.1\.0 -> 0\.2\.0, hot \(pid {pid} kept", upgraded.stdout)
    assert pids(config) == started
    assert hosts.ask("web1") == "hello 0.2.0" and hosts.ask("web2") == "hello 0.2.0"
    # each node was asked itself: no command carried install_release (nor the check before
    # it) to bin/hello rpc
    assert _sent_by_script(upgraded.output) == []
    assert ":release_handler.check_install_release(" not in upgraded.output
    assert "bin/hello rpc" not in upgraded.output
    assert "instead of the node itself" not in upgraded.output
