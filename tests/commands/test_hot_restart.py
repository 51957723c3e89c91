"""An upgrade whose relup restarts the emulator (here: the user's per-pair appup ends with
`restart_emulator`) is recorded as such when it is built. `deploy upgrade` refuses it on nodes
without heart, touching no host (they would not come back); on nodes running with heart it
installs it: the node answers, reboots into the new version through the start program deliver
wrote, and the release is made permanent on the new node. One build of the upgrade serves
both cases (and the same two hosts: refused first, then restarted with heart)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids
from tests.conftest import bump_version, git

pytestmark = pytest.mark.slow

RESTARTING = """{"0.3.0",
 [{"0.1.0", [{update, 'Elixir.Hello.Counter', {advanced, []}}, restart_emulator]}],
 [{"0.1.0", [{update, 'Elixir.Hello.Counter', {advanced, []}}, restart_emulator]}]}.
"""

OWN_START = """#!/bin/sh
cd "$(dirname "$0")/.." && exec bin/hello daemon"""


def with_heart(config: Path) -> None:
    """The environment's nodes start with heart (the release handler's way back)."""
    text = config.read_text()
    config.write_text(
        re.sub(r'env: \{PORT: ("\d+")\}', r'env: {PORT: \1, ELIXIR_ERL_OPTIONS: "-heart"}', text)
    )
    assert "-heart" in config.read_text()


def test_an_upgrade_that_restarts_the_emulator_needs_heart_and_then_restarts_it(
    hosts: Hosts, mix_app: UpgradeApp, tmp_path: Path
) -> None:
    repo = tmp_path / "hello"
    git(tmp_path, "clone", "-q", str(mix_app.repo), str(repo))
    (repo / "rel/appups/hello").mkdir(parents=True)
    (repo / "rel/appups/hello/0.1.0-0.3.0.appup").write_text(RESTARTING)
    git(repo, "add", "rel")
    bump_version(repo, "0.3.0")
    store = tmp_path / "store"
    shutil.copytree(mix_app.store, store)
    app = replace(mix_app, repo=repo, store=store)
    config = hosts.config(app)

    built = ok(deliver(config, "build", "upgrade", "--with=0.1.0", "--to=HEAD"))
    assert "Using the appup of hello from rel/appups/hello/0.1.0-0.3.0.appup" in built.stdout
    manifest = json.loads((store / "hello_0.3.0.upgrade.json").read_text())
    assert manifest["restarts_emulator"] is True
    # the store keeps the user's pair file as they wrote it
    kept = store / "hello_0.3.0.upgrade.tar.gz.appups/hello/0.1.0-0.3.0.appup"
    assert kept.read_text() == RESTARTING
    assert "restart_emulator" in ok(deliver(config, "show", "relup", "0.3.0")).stdout

    # without heart: refused on every host before any is touched
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)
    before = {host: hosts.tree(host) for host in ("web1", "web2")}
    refused = deliver(config, "deploy", "upgrade", "production", "--version=0.3.0")
    assert refused.exit_code == 2, refused.output
    assert "0.1.0 -> 0.3.0 cannot be hot: web" in refused.stderr
    assert refused.stderr.count("the node runs without heart") == 2
    assert "deliver upgrade production --fallback=restart" in refused.stderr
    assert "Traceback" not in refused.output
    dry = deliver(config, "--dry-run", "deploy", "upgrade", "production", "--version=0.3.0")
    assert dry.exit_code != 0, dry.output
    assert "web1: preflight refuses it: the node runs without heart" in dry.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == "hello 0.1.0" and hosts.ask("web2") == "hello 0.1.0"
    assert {host: hosts.tree(host) for host in before} == before

    # with heart: the nodes come back on 0.3.0, in new OS processes
    with_heart(config)
    ok(deliver(config, "env", "push", "production"))
    ok(deliver(config, "restart", "production"))
    hearted = pids(config)
    assert set(hearted) == {"web1", "web2"}
    # web2's release ships its own bin/start (deliver leaves it), which boots what the node
    # booted before: web2 comes back on 0.1.0, and says so
    hosts.sh("web2", f"printf '%s\\n' {shlex.quote(OWN_START)} > running/bin/start")
    hosts.sh("web2", "chmod 755 running/bin/start")
    took = time.monotonic()
    half = deliver(config, "deploy", "upgrade", "production", "--version=0.3.0")
    took = time.monotonic() - took
    assert half.exit_code == 1, half.output
    assert "web2: the node came back in a new process (pid " in half.stderr
    assert "but it runs 0.1.0; 0.3.0 was not made permanent" in half.stderr
    assert "0.1.0 -> 0.3.0, emulator restarted" in half.stdout  # web1
    assert "Traceback" not in half.output
    assert hosts.ask("web2") == "hello 0.1.0"
    assert hosts.sh("web2", "cut -d' ' -f2 running/releases/start_erl.data") == "0.1.0"
    hosts.sh("web2", "rm running/bin/start")
    hearted["web2"] = pids(config)["web2"]
    # run again: web1 is left alone, web2 goes through deliver's start program
    upgraded = ok(deliver(config, "deploy", "upgrade", "production", "--version=0.3.0"))
    assert "web1: already running 0.3.0" in upgraded.stdout, upgraded.stdout
    for host, said in (("web1", half.stdout), ("web2", upgraded.stdout)):
        line = re.search(
            rf"{host}: .*0\.1\.0 -> 0\.3\.0, emulator restarted \(pid (\d+) -> (\d+), [\d.]+ s\)",
            said,
        )
        assert line, said
        assert line.group(1) == hearted[host] and line.group(2) != hearted[host]
        assert hosts.ask(host) == "hello 0.3.0"
        releases = hosts.sh(host, "cat running/releases/RELEASES")
        status = dict(re.findall(r'\{release,"[^"]*","([^"]*)",.*?,\s*(\w+)\}', releases, re.S))
        assert status == {"0.3.0": "permanent", "0.1.0": "old"}, releases
        assert hosts.sh(host, "cut -d' ' -f2 running/releases/start_erl.data") == "0.3.0"
        assert hosts.sh(host, "stat -c %a running/bin/start") == "700"
        assert hosts.sh(host, "readlink current") == "releases/0.3.0"
    assert "pid kept" not in upgraded.stdout
    now = pids(config)
    assert all(now[host] != hearted[host] for host in now)
    print(f"deploy upgrade, web1 restarted and web2 back on 0.1.0: {took:.1f} s")

    # and back: the down relup restarts the emulator too
    down = ok(deliver(config, "downgrade", "production", "--version=0.1.0"))
    for host in ("web1", "web2"):
        assert re.search(rf"{host}: .*0\.3\.0 -> 0\.1\.0, emulator restarted", down.stdout)
        assert hosts.ask(host) == "hello 0.1.0"
        assert hosts.sh(host, "cut -d' ' -f2 running/releases/start_erl.data") == "0.1.0"
        assert hosts.sh(host, "readlink current") == "releases/0.1.0"
    assert all(pids(config)[host] != now[host] for host in now)
