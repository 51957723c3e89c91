"""An upgrade whose relup restarts the emulator (here: the user's per-pair appup ends with
`restart_emulator`) is recorded as such when it is built, and `deploy upgrade` refuses to take
it hot: the release handler would reboot the node (its state lost, and without heart and a
start program it does not come back). Nothing is touched; --fallback=restart is the way."""

from __future__ import annotations

import json
import shutil
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


def test_an_upgrade_that_restarts_the_emulator_is_never_called_hot(
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
    assert "restart_emulator" in ok(deliver(config, "show", "relup", "0.3.0")).stdout

    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    started = pids(config)
    before = {host: hosts.tree(host) for host in ("web1", "web2")}
    refused = deliver(config, "deploy", "upgrade", "production", "--version=0.3.0")
    assert refused.exit_code == 2
    assert "0.1.0 -> 0.3.0 cannot be hot: its relup restarts the emulator" in refused.stderr
    assert "deliver upgrade production --fallback=restart" in refused.stderr
    assert pids(config) == started
    assert hosts.ask("web1") == "hello 0.1.0" and hosts.ask("web2") == "hello 0.1.0"
    assert {host: hosts.tree(host) for host in before} == before
