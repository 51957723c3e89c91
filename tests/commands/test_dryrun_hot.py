"""`deploy upgrade --dry-run` with a real stored upgrade, on real nodes running its
from-version: the hot preflight's verdict per host and the release handler's steps are
printed (their commands with --debug), and nothing changes: not a file under deliver_to,
not the nodes' OS pids, not the versions they run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids
from tests.commands.test_dryrun import listing


def _trees(sandbox: Sandbox, hosts: Hosts) -> dict[str, dict[str, str]]:
    """Every file's mode and hash under each host's deliver_to, but the nodes' logs (a
    running node may write them)."""
    trees = {}
    for name in ("web1", "web2"):
        root = Path(sandbox.host(name).home) / hosts.name
        entries = listing(root)
        trees[name] = {
            path: what
            for path, what in entries.items()
            if not path.startswith("log") and "/tmp" not in f"/{path}"
        }
    return trees


@pytest.mark.slow
def test_a_hot_upgrade_dry_run_says_the_verdict_and_the_steps_and_changes_nothing(
    sandbox: Sandbox, hosts: Hosts, mix_app: UpgradeApp
) -> None:
    config = hosts.config(mix_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)
    before = _trees(sandbox, hosts)

    dry = ok(deliver(config, "--dry-run", "--debug", "deploy", "upgrade", "production"))
    for host, pid in started.items():
        assert (
            f"{host}: preflight passes: the node runs 0.1.0 (pid {pid}), ready to upgrade"
            in dry.stdout
        )
        assert f"{host}: upload hello_0.2.0.upgrade.tar.gz (" in dry.stdout
        assert re.search(rf"{host}: stage 0\.2\.0 in \S+/releases/0\.1\.0 and have", dry.stdout)
        assert (
            f"{host}: install 0.2.0 through the release handler and make it permanent: "
            f"0.1.0 -> 0.2.0 in the same OS process (pid {pid})" in dry.stdout
        )
        # --debug: the commands of each step, made by the code a real upgrade runs
        for step in ("uploading", "checking the upgrade to 0.2.0", "upgrade to 0.2.0"):
            assert f"{host} $ (not run: {step})" in dry.stderr, step
        assert f"{host} $ (not run: recording the new version)" in dry.stderr
    assert "release_handler" in dry.stderr
    assert "Dry run done: nothing was changed on 2 host(s)" in dry.stdout
    assert _trees(sandbox, hosts) == before
    assert pids(config) == started
    versions = ok(deliver(config, "version", "production")).stdout
    assert "web1: 0.1.0" in versions and "web2: 0.1.0" in versions

    # a host whose node is down: its verdict is the real preflight's, and the dry run fails
    # as the upgrade would, having installed nothing anywhere
    ok(deliver(config, "stop", "production", "--host", "web2"))
    before = _trees(sandbox, hosts)
    refused = deliver(config, "--dry-run", "deploy", "upgrade", "production")
    assert refused.exit_code == 1, refused.output
    assert "web1: preflight passes: the node runs 0.1.0" in refused.stdout
    assert "web2: preflight refuses it: the node is not running (0.1.0 is deployed)" in (
        refused.stdout
    )
    assert "preflight failed on 1 host(s): web2" in refused.stderr
    assert "would install nothing anywhere" in refused.stderr
    assert _trees(sandbox, hosts) == before
    web1 = ok(deliver(config, "ping", "production", "--host", "web1")).stdout
    assert f"web1: pong (pid {started['web1']})" in web1
