"""One relup from every version an environment runs, for the rebar3 sample on two real
sandbox hosts: web1 on 0.1.0, web2 hot-upgraded to 0.2.0, then `build upgrade
--from-env=production` makes 0.3.0's relup from both (rebar3 relup takes one old version:
systools makes it) and `deploy upgrade` takes both hosts to 0.3.0 hot, each from its own
version. A repeated --from makes the same for rebar3. Reuses the stored 0.1.0 and 0.2.0."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids
from tests.conftest import git

pytestmark = pytest.mark.slow


def version_3(app: UpgradeApp, directory: Path) -> UpgradeApp:
    """A clone of the rebar3 app at 0.3.0 (a module added), with a copy of its store."""
    repo = directory / "counter_erl"
    git(directory, "clone", "-q", str(app.repo), str(repo))
    (repo / "src/counter_erl_step.erl").write_text(
        "-module(counter_erl_step).\n-export([step/0]).\nstep() -> 3.\n"
    )
    for name in ("rebar.config", "src/counter_erl.app.src"):
        path = repo / name
        path.write_text(path.read_text().replace('"0.2.0"', '"0.3.0"'))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "counter_erl 0.3.0")
    store = directory / "store"
    shutil.copytree(app.store, store)
    return replace(app, repo=repo, store=store)


def test_an_upgrade_from_every_version_the_environment_runs(
    hosts: Hosts, rebar3_app: UpgradeApp, tmp_path: Path
) -> None:
    app = version_3(rebar3_app, tmp_path)
    config = hosts.config(app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    ok(deliver(config, "deploy", "upgrade", "production", "--version=0.2.0", "--host=web2"))
    hosts.incr("web1", 3)
    hosts.incr("web2", 2)
    started = pids(config)

    built = ok(deliver(config, "build", "upgrade", "--from-env=production", "--to=HEAD"))
    assert "production runs web1 0.1.0, web2 0.2.0" in built.stdout
    assert "Generating relup (systools:make_relup)" in built.stdout
    assert "Built upgrade counter_erl 0.1.0, 0.2.0 -> 0.3.0" in built.stdout
    relup = "".join(ok(deliver(config, "show", "relup", "0.3.0")).stdout.split())
    assert '{"0.3.0",[{"' in relup and '{"0.1.0",' in relup and '{"0.2.0",' in relup

    upgraded = ok(deliver(config, "deploy", "upgrade", "production"))
    assert f"web1: 0.1.0 -> 0.3.0, hot (pid {started['web1']} kept" in upgraded.stdout
    assert f"web2: 0.2.0 -> 0.3.0, hot (pid {started['web2']} kept" in upgraded.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == "counter_erl 0.3.0" and hosts.ask("web2") == "counter_erl 0.3.0"
    # web1's state went through 0.3.0's code_change from 0.1.0; web2's was converted before
    assert hosts.ask("web1", "/state") == "#{count => 3}"
    assert hosts.ask("web2", "/state") == "#{count => 2}"

    # --from repeated, for rebar3 as for mix (both old releases are stored: not built again)
    repeated = ok(deliver(config, "build", "upgrade", "--from=v0.1.0", "--from=v0.2.0"))
    assert "Built upgrade counter_erl 0.1.0, 0.2.0 -> 0.3.0" in repeated.stdout

    missing = deliver(config, "build", "upgrade", "--from-env=staging")
    assert missing.exit_code != 0 and "staging" in missing.stderr
