"""Hot steps in a chain: 0.1.0 -> 0.2.0 -> 0.3.0 on two real sandbox hosts, then `rollback`
one step (0.2.0) and another (0.1.0), the same OS process all along, each step in the hosts'
history; then 0.1.0 -> 0.3.0 in one step, as the upgrade to 0.3.0 is from both 0.1.0 and 0.2.0
(`build upgrade --from` twice). The 0.3.0 build meets the branch's rel/appups/hello.appup of
0.2.0: stale, named, not used. 0.3.0 changes the application callback module but not its
start/2: still hot."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids
from tests.conftest import bump_version, git

pytestmark = pytest.mark.slow


def version_3(app: UpgradeApp, directory: Path) -> UpgradeApp:
    """A clone of the mix app at 0.3.0 (one plain module changed), with a copy of its store."""
    repo = directory / "hello"
    git(directory, "clone", "-q", str(app.repo), str(repo))
    release = repo / "lib/hello/release.ex"
    text = release.read_text().rstrip()
    release.write_text(text.removesuffix("end") + "  def chain_step, do: 3\nend\n")
    # the application callback module changes, but not its start/2: the tree is the same
    application = repo / "lib/hello/application.ex"
    text = application.read_text().rstrip()
    application.write_text(text.removesuffix("end") + "  def chain_step, do: 3\nend\n")
    bump_version(repo, "0.3.0")
    store = directory / "store"
    shutil.copytree(app.store, store)
    return replace(app, repo=repo, store=store)


def test_a_chain_of_hot_upgrades_rolls_back_one_step_at_a_time(
    hosts: Hosts, mix_app: UpgradeApp, tmp_path: Path
) -> None:
    app = version_3(mix_app, tmp_path)
    config = hosts.config(app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    hosts.incr("web1", 3)
    started = pids(config)
    ok(deliver(config, "deploy", "upgrade", "production", "--version=0.2.0"))

    built = ok(deliver(config, "build", "upgrade", "--from=v0.1.0", "--from=v0.2.0", "--to=HEAD"))
    assert "Built upgrade hello 0.1.0, 0.2.0 -> 0.3.0" in built.stdout
    assert (
        "rel/appups/hello.appup is the appup of version 0.2.0, but the new release has 0.3.0: "
        "not used" in built.stderr
    )
    assert "Generated the appup of hello 0.1.0 -> 0.3.0" in built.stdout
    assert "Generated the appup of hello 0.2.0 -> 0.3.0" in built.stdout
    relup = "".join(ok(deliver(config, "show", "relup", "0.3.0")).stdout.split())
    assert '{"0.3.0",[{"' in relup and '{"0.1.0",' in relup and '{"0.2.0",' in relup
    assert "{load,{'Elixir.Hello.Application'," in relup  # loaded hot, like any module
    manifest = json.loads((app.store / "hello_0.3.0.upgrade.json").read_text())
    assert manifest.get("changed_supervisors", []) == []

    third = ok(deliver(config, "upgrade", "production"))
    assert "production runs hello 0.2.0" in third.stdout
    assert "Using the stored upgrade 0.2.0 -> 0.3.0" in third.stdout
    assert "web1: 0.2.0 -> 0.3.0, hot (pid " in third.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == "hello 0.3.0" and hosts.ask("web1", "/state") == "%{count: 3}"
    listed = ok(deliver(config, "show", "releases", "production")).stdout
    assert re.search(r"web1\s+0\.3\.0\s+current,hot-upgraded in 0\.1\.0", listed)
    assert re.search(r"web1\s+0\.2\.0\s+previous,hot-upgraded in 0\.1\.0", listed)

    back = ok(deliver(config, "rollback", "production"))
    assert "Rolling back hello on production to 0.2.0" in back.stdout
    assert "web1: 0.3.0 -> 0.2.0, hot (pid " in back.stdout
    assert hosts.ask("web2") == "hello 0.2.0" and hosts.ask("web1", "/state") == "%{count: 3}"

    again = ok(deliver(config, "rollback", "production"))
    assert "web1: 0.2.0 -> 0.1.0, hot (pid " in again.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == "hello 0.1.0" and hosts.ask("web1", "/state") == "3"
    events = [
        line.split(" ", 1)[1] for line in hosts.sh("web1", "cat deliver.history").splitlines()
    ]
    assert events == [
        "deployed 0.1.0",
        "started 0.1.0",
        "deployed 0.2.0",
        "deployed 0.3.0",
        "deployed 0.2.0",
        "rolled_back 0.3.0",
        "deployed 0.1.0",
        "rolled_back 0.2.0",
    ]

    # 0.1.0 -> 0.3.0 in one hot step: the relup has an entry for 0.1.0 too
    direct = ok(deliver(config, "deploy", "upgrade", "production", "--version=0.3.0"))
    assert "Hot-upgrading hello 0.1.0, 0.2.0 -> 0.3.0" in direct.stdout
    assert "web2: 0.1.0 -> 0.3.0, hot (pid " in direct.stdout
    assert pids(config) == started
    assert hosts.ask("web2") == "hello 0.3.0" and hosts.ask("web1", "/state") == "%{count: 3}"
