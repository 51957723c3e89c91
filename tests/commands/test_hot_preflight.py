"""Every refusal of the hot-upgrade preflight, on two real sandbox hosts running 0.1.0: each is
found on every host before anything is installed anywhere, so no node changes (same version,
same OS pid) and the hosts' files are as they were, but where the check itself stages files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids

pytestmark = pytest.mark.slow


def store_with(app: UpgradeApp, directory: Path, **changes: str | None) -> Path:
    """A copy of the app's store whose upgrade manifest says `changes`."""
    shutil.copytree(app.store, directory)
    manifest = directory / f"{app.name}_0.2.0.upgrade.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(data | changes))
    return directory


def test_each_preflight_refusal_leaves_every_node_as_it_was(
    hosts: Hosts, mix_app: UpgradeApp, tmp_path: Path
) -> None:
    config = hosts.config(mix_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)
    trees = {host: hosts.tree(host) for host in ("web1", "web2")}

    def refused(store: Path | None, *expected: str, code: int = 1) -> None:
        chosen = hosts.config(mix_app, store) if store else config
        result = deliver(chosen, "deploy", "upgrade", "production")
        assert result.exit_code == code, result.output
        for text in expected:
            assert text in result.stderr, result.stderr
        assert pids(config) == started
        assert hosts.ask("web1") == "hello 0.1.0" and hosts.ask("web2") == "hello 0.1.0"

    # the same version from another build: the archive the hosts run is not the upgrade's
    other_build = store_with(mix_app, tmp_path / "build", from_sha256="0" * 64)
    refused(
        other_build,
        "preflight failed on 2 host(s): web1, web2",
        "web1: runs 0.1.0 from archive ",
        "but the upgrade was built from archive 000000000000",
    )
    other_commit = store_with(
        mix_app, tmp_path / "commit", from_commit="abcdef0123", from_sha256=None
    )
    refused(other_commit, "built from commit abcdef0123", "deliver build upgrade --from=")
    # built on another ERTS (another OTP): never hot, and the way to go says so
    other_erts = store_with(mix_app, tmp_path / "erts", erts="99.0.1")
    refused(
        other_erts,
        "0.1.0 -> 0.2.0 cannot be hot: web1: runs ERTS ",
        "but the upgrade was built with ERTS 99.0.1",
        "deliver upgrade production --fallback=restart",
        code=2,
    )
    assert {host: hosts.tree(host) for host in trees} == trees

    # no releases/RELEASES on web2: the release handler could not install anything there
    hosts.sh("web2", "mv releases/0.1.0/releases/RELEASES RELEASES.away")
    refused(None, "preflight failed on 1 host(s): web2", "releases/RELEASES is missing")
    hosts.sh("web2", "mv RELEASES.away releases/0.1.0/releases/RELEASES")
    assert {host: hosts.tree(host) for host in trees} == trees

    # check_install_release fails on web2 (a module file of 0.2.0 it cannot read): found after
    # staging on both hosts and before any install, so neither node switches
    hosts.sh("web2", "mkdir -p releases/0.1.0/lib/hello-0.2.0/ebin/Elixir.Hello.Counter.beam")
    refused(
        None,
        "upgrade check failed on 1 host(s): web2",
        "web2: the release handler cannot install 0.2.0 (the node runs 0.1.0)",
        "check_install_release",
    )
    hosts.sh("web2", "rm -rf releases/0.1.0/lib/hello-0.2.0")
    # a retry, once the cause is gone, goes through on both
    upgraded = ok(deliver(config, "deploy", "upgrade", "production"))
    assert "web2: 0.1.0 -> 0.2.0, hot (pid " in upgraded.stdout
    assert pids(config) == started


def test_the_policy_refuses_hot_and_the_fallback_restarts_into_the_new_release(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    config = hosts.config(mix_app)
    policy = "hot_upgrade:\n  policy: never\nhealth_check:\n  url: http://127.0.0.1:{PORT}/\n"
    config.write_text(config.read_text() + policy)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)

    refused = deliver(config, "upgrade", "production", "--to=v0.2.0")
    assert refused.exit_code == 2
    assert "0.1.0 -> 0.2.0 cannot be hot: hot_upgrade.policy is never" in refused.stderr
    assert "deliver upgrade production --fallback=restart" in refused.stderr
    assert pids(config) == started and hosts.ask("web1") == "hello 0.1.0"

    restarted = ok(deliver(config, "upgrade", "production", "--to=v0.2.0", "--fallback=restart"))
    assert "restarting into 0.2.0 instead (--fallback=restart)" in restarted.stderr
    assert hosts.ask("web1") == "hello 0.2.0" and hosts.ask("web2") == "hello 0.2.0"
    assert hosts.ask("web1", "/state") == mix_app.fresh_state  # a restart: fresh state
    after = pids(config)
    assert all(after[host] != started[host] for host in started)
