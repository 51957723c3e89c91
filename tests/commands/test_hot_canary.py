"""`--canary[=HOST]` on two real sandbox hosts: every host is checked (staged, nothing
installed), then one host is upgraded and verified (its node's version, the health check)
before the other; a canary that fails is downgraded again and the other node never switches."""

from __future__ import annotations

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids

pytestmark = pytest.mark.slow


def test_a_failing_canary_is_downgraded_and_a_healthy_one_leads_the_way(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    config = hosts.config(mix_app)
    healthy = config.read_text()
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    hosts.incr("web2", 2)
    started = pids(config)
    # a health check no version passes: the canary switches, then fails it
    failing = "health_check:\n  url: http://127.0.0.1:{PORT}/nope\n  retries: 1\n"
    config.write_text(healthy + failing)

    failed = deliver(config, "deploy", "upgrade", "production", "--canary=web2")
    assert failed.exit_code == 1
    assert "Upgrading the canary web2 first" in failed.stdout
    assert "web2: 0.1.0 -> 0.2.0, hot" in failed.stdout  # it switched ...
    assert "canary failed on 1 host(s): web2" in failed.stderr  # ... and failed its check
    assert "web2: 0.2.0 -> 0.1.0, hot" in failed.stdout  # so it went back
    assert "web2 was downgraded to 0.1.0; no other node was switched" in failed.stderr
    assert hosts.ask("web2") == "hello 0.1.0" and hosts.ask("web2", "/state") == "2"
    # web1 was checked before the canary went (its files staged, nothing installed): its node
    # runs on, untouched
    assert hosts.ask("web1") == "hello 0.1.0"
    assert hosts.sh("web1", "readlink current") == "releases/0.1.0"
    assert pids(config) == started

    config.write_text(healthy + "health_check:\n  url: http://127.0.0.1:{PORT}/\n")
    unknown = deliver(config, "deploy", "upgrade", "production", "--canary=web9")
    assert unknown.exit_code == 2 and "--canary=web9: not a host of production" in unknown.stderr
    upgraded = ok(deliver(config, "deploy", "upgrade", "production", "--canary"))
    lines = upgraded.stdout.splitlines()
    first = lines.index("-----> Upgrading the canary web1 first")
    assert any("web1: 0.1.0 -> 0.2.0, hot" in line for line in lines[first : first + 4])
    assert "The canary web1 runs 0.2.0: upgrading the others" in upgraded.stdout
    assert "web2: 0.1.0 -> 0.2.0, hot" in upgraded.stdout
    assert pids(config) == started
