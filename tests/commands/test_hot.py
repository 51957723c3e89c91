"""Hot upgrades end to end on two real sandbox hosts, with the sample apps of hot_apps.py (the
mix app's v0.2.0 and the rebar3 app's ship no appup: deliver generates them)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.commands.hot_apps import Hosts, UpgradeApp, deliver, ok, pids

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("app_fixture", ["mix_app", "rebar3_app"])
def test_hot_upgrade_keeps_the_process_and_converts_its_state_then_downgrade(
    hosts: Hosts, app_fixture: str, request: pytest.FixtureRequest
) -> None:
    app: UpgradeApp = request.getfixturevalue(app_fixture)
    config = hosts.config(app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    hosts.incr("web1", 3)
    hosts.incr("web2", 1)
    started = pids(config)
    assert hosts.ask("web1", "/state") == app.state_before

    upgraded = ok(deliver(config, "deploy", "upgrade", "to", "production"))
    for host, pid in started.items():
        assert re.search(
            rf"{host}: 0\.1\.0 -> 0\.2\.0, hot \(pid {pid} kept, \d+\.\d s\)", upgraded.stdout
        )
    assert pids(config) == started
    assert hosts.ask("web1") == f"{app.name} 0.2.0"
    assert hosts.ask("web1", "/state") == app.state_after
    assert hosts.ask("web2", "/state") == app.state_after.replace("3", "1")
    version = ok(deliver(config, "version", "production")).stdout
    assert "web1: 0.2.0" in version and "web2: 0.2.0" in version
    # the node runs on from releases/0.1.0, which the release handler switched to 0.2.0
    assert hosts.sh("web1", "readlink current releases/0.2.0 running") == (
        "releases/0.2.0\n0.1.0\nreleases/0.1.0"
    )
    assert hosts.sh("web1", "cat releases/0.1.0/releases/start_erl.data").endswith(" 0.2.0")

    again = ok(deliver(config, "deploy", "upgrade", "production"))
    assert "web1: already running 0.2.0" in again.stdout
    on_hosts = ok(deliver(config, "show", "releases", "production")).stdout
    assert re.search(r"web1\s+0\.2\.0\s+current,hot-upgraded in 0\.1\.0\s+deployed", on_hosts)
    assert re.search(r"web1\s+0\.1\.0\s+running,previous\s+started", on_hosts)

    # back through the release handler: `downgrade`, or `rollback` of a hot upgrade
    way_back = (
        ("rollback", "production")
        if app.name == "hello"
        else ("downgrade", "production", "--version=0.1.0")
    )
    downgraded = ok(deliver(config, *way_back))
    assert "web1: 0.2.0 -> 0.1.0, hot" in downgraded.stdout
    assert pids(config) == started
    assert hosts.ask("web1") == f"{app.name} 0.1.0"
    assert hosts.ask("web1", "/state") == app.state_before
    assert hosts.sh("web1", "readlink current; ls releases") == (
        "releases/0.1.0\n0.1.0\n0.1.0.tar.gz\n0.1.0.tar.gz.sha256\n"
        "0.2.0.upgrade.tar.gz\n0.2.0.upgrade.tar.gz.sha256"
    )

    # up again (0.2.0 is installed, marked old), then a restart boots 0.2.0 afresh
    ok(deliver(config, "deploy", "upgrade", "production", "--host=web1"))
    assert hosts.ask("web1", "/state") == app.state_after
    restarted = ok(deliver(config, "restart", "production", "--host=web1"))
    assert "web1: started 0.2.0" in restarted.stdout
    assert hosts.ask("web1") == f"{app.name} 0.2.0"
    assert hosts.ask("web1", "/state") == app.fresh_state

    # stop says what the node ran: after a hot upgrade, not the directory's name
    ok(deliver(config, "deploy", "upgrade", "production", "--host=web2"))
    stopped = ok(deliver(config, "stop", "production", "--host=web2"))
    assert "web2: stopped 0.2.0" in stopped.stdout


def test_preflight_refuses_and_touches_no_host_then_a_failed_host_is_named(
    hosts: Hosts, mix_app: UpgradeApp, tmp_path: Path
) -> None:
    config = hosts.config(mix_app)
    ok(deliver(config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"))
    before = {host: hosts.tree(host) for host in ("web1", "web2")}

    # an upgrade from another version than the running one (manifest of a copy of the store)
    store = tmp_path / "store"
    shutil.copytree(mix_app.store, store)
    manifest = store / "hello_0.2.0.upgrade.json"
    manifest.write_text(manifest.read_text().replace('"0.1.0"', '"0.0.9"'))
    other = deliver(hosts.config(mix_app, store), "deploy", "upgrade", "production")
    assert other.exit_code == 1
    assert "preflight failed on 2 host(s): web1, web2" in other.stderr
    assert "web1: runs 0.1.0, but the upgrade is from 0.0.9 to 0.2.0" in other.stderr
    assert {host: hosts.tree(host) for host in before} == before

    # web1 is ready, web2 is not: nothing is uploaded or installed anywhere
    ok(deliver(config, "stop", "production", "--host=web2"))
    before = {host: hosts.tree(host) for host in ("web1", "web2")}
    refused = deliver(config, "deploy", "upgrade", "production")
    assert refused.exit_code == 1
    assert "preflight failed on 1 host(s): web2" in refused.stderr
    assert "web2: the node is not running (0.1.0 is deployed)" in refused.stderr
    assert {host: hosts.tree(host) for host in before} == before
    assert hosts.ask("web1") == "hello 0.1.0"

    # web2 cannot stage the new files: checked on every host before any install, so neither
    # node switches
    ok(deliver(config, "start", "production", "--host=web2"))
    started = pids(config)
    hosts.sh("web2", "touch releases/0.1.0/releases/0.2.0")
    refused = deliver(config, "deploy", "upgrade", "production")
    assert refused.exit_code == 1
    assert "upgrade check failed on 1 host(s): web2" in refused.stderr
    assert "web2: staging the upgrade failed" in refused.stderr
    assert hosts.ask("web1") == "hello 0.1.0" and hosts.ask("web2") == "hello 0.1.0"
    assert pids(config) == started
    ok(deliver(config, "deploy", "upgrade", "production", "--host=web1"))
    assert hosts.ask("web1") == "hello 0.2.0" and hosts.ask("web2") == "hello 0.1.0"

    disagree = deliver(config, "upgrade", "production")
    assert disagree.exit_code == 2
    assert "the hosts do not run the same version: web1 runs 0.2.0, web2 runs 0.1.0" in (
        disagree.stderr
    )

    # a host on the target version counts as done only with the upgrade's build: the commit
    # its hot step recorded
    staged = "releases/0.1.0/.deliver-upgrades"
    saved = hosts.sh("web1", f"cat {staged}")
    hosts.sh("web1", f"sed -i 's/ [0-9a-f]*$/ {'7' * 40}/' {staged}")
    other = deliver(config, "deploy", "upgrade", "production")
    assert other.exit_code == 1
    assert "web1: runs 0.2.0 built from commit 7777777777, not the upgrade's build" in (
        other.stderr
    )
    hosts.sh("web1", f"printf '%s\\n' {shlex.quote(saved)} > {staged}")

    # the rerun of `upgrade` to the upgrade's commit after web2 failed: web1 is done and left
    # alone, web2 is upgraded hot
    hosts.sh("web2", "rm releases/0.1.0/releases/0.2.0")
    resumed = ok(deliver(config, "upgrade", "production", "--to=v0.2.0"))
    assert "production runs hello 0.1.0" in resumed.stdout
    assert "web1 already run(s) 0.2.0: a rerun upgrades the others only" in resumed.stdout
    assert "Using the stored upgrade 0.1.0 -> 0.2.0" in resumed.stdout
    assert "web1: already running 0.2.0" in resumed.stdout
    assert f"web2: 0.1.0 -> 0.2.0, hot (pid {started['web2']} kept" in resumed.stdout
    assert "web1: 0.1.0 -> 0.2.0" not in resumed.stdout
    assert pids(config) == started
    assert hosts.ask("web2") == "hello 0.2.0"


def test_upgrade_detects_the_running_version_builds_with_it_and_deploys_hot(
    hosts: Hosts, mix_app: UpgradeApp
) -> None:
    # an SSH store holding only the running release: the upgrade is built --with it, and the
    # archives travel build host -> store host -> deploy hosts
    store = f"store:{hosts.name}"
    config = hosts.config(mix_app, store)
    # a host-local runtime.exs (link.runtime_exs): the upgraded node must run with it
    local = f"~/{hosts.name}.runtime.exs"
    runtime = (
        'import Config\nconfig :hello, port: String.to_integer(System.fetch_env!("PORT"))\n'
        'config :hello, marker: "host-local"\n'
    )
    for host in ("web1", "web2"):
        hosts.on(host, f"printf '%s' {shlex.quote(runtime)} > {local}")
    # hooks around each host's install: the app answers the old version before, the new after
    ask = 'echo "$HOOK $VERSION $(curl -fsS http://127.0.0.1:$PORT/)" >> upgrade-hooks.log'
    hooks = f"hooks:\n  pre_upgrade: {shlex.quote(ask)}\n  post_upgrade: {shlex.quote(ask)}\n"
    config.write_text(config.read_text() + f"link:\n  runtime_exs: {local}\n" + hooks)
    ok(deliver(config, "upload", "release", "0.1.0", f"--dir={mix_app.store}"))
    ok(deliver(config, "deploy", "release", "production", "--start-deploy"))
    hosts.incr("web1", 3)
    started = pids(config)

    result = ok(deliver(config, "upgrade", "production"))
    assert "production runs hello 0.1.0" in result.stdout
    assert "Building the upgrade with the stored 0.1.0 (--with=0.1.0)" in result.stdout
    assert "Using the appup of hello from rel/appups/hello.appup" in result.stdout
    assert f"web1: 0.1.0 -> 0.2.0, hot (pid {started['web1']} kept, " in result.stdout
    assert hosts.ask("web1", "/state") == "%{count: 3}"
    # install_release resets the app env: the linked runtime.exs was applied again
    assert hosts.sh("web1", "readlink releases/0.1.0/releases/0.2.0/runtime.exs") == (
        hosts.on("web1", f"echo {local}")
    )
    assert hosts.sh("web2", "cat upgrade-hooks.log").splitlines() == [
        "pre_upgrade_release 0.2.0 hello 0.1.0",
        "post_upgrade_release 0.2.0 hello 0.2.0",
    ]
    marker = "IO.puts(Application.fetch_env!(:hello, :marker))"
    assert hosts.sh("web1", f"cd running && bin/hello rpc {shlex.quote(marker)}") == "host-local"
    assert hosts.on("store", f"ls ~/{hosts.name}").split() == [
        "hello_0.1.0.release.json",
        "hello_0.1.0.release.tar.gz",
        "hello_0.2.0.release.json",
        "hello_0.2.0.release.tar.gz",
        "hello_0.2.0.upgrade.json",
        "hello_0.2.0.upgrade.tar.gz",
    ]

    nothing = deliver(config, "upgrade", "production")
    assert nothing.exit_code == 2
    assert "production already runs 0.2.0" in nothing.stderr and "nothing to upgrade" in (
        nothing.stderr
    )


def test_show_relup_and_releases(mix_app: UpgradeApp) -> None:
    config = mix_app.repo / ".deliver"
    relup = ok(deliver(config, "show", "relup", "0.2.0"))
    assert "hello 0.1.0 -> 0.2.0" in relup.stdout
    assert "generated appups: hello" in relup.stdout
    assert "{code_change,up,[{'Elixir.Hello.Counter',[]}]}" in relup.stdout
    assert "{code_change,down,[{'Elixir.Hello.Counter',[]}]}" in relup.stdout
    listed = ok(deliver(config, "show", "releases")).stdout
    assert re.search(r"^0\.2\.0\s+0\.1\.0\s+[0-9a-f]{10}", listed, re.MULTILINE)
    missing = deliver(config, "show", "relup", "9.9.9")
    assert missing.exit_code == 1 and "no upgrade 9.9.9 of hello" in missing.stderr
    # the generated appup, as the relup was made from it, kept beside the upgrade in the store
    kept = mix_app.store / "hello_0.2.0.upgrade.tar.gz.appups/hello/0.1.0-0.2.0.appup"
    appups = ok(deliver(config, "show", "appup", "0.2.0")).stdout
    assert appups == "-----> hello 0.1.0 -> 0.2.0\n" + kept.read_text()
    assert kept.read_text().startswith(
        "%% The appup of hello 0.1.0 -> 0.2.0: generated by deliver from the modules.\n"
        "%% To use it as it is or changed, commit it as rel/appups/hello/0.1.0-0.2.0.appup\n"
        '{"0.2.0",\n'
    )
    assert "{update,'Elixir.Hello.Counter',{advanced,[]}}" in "".join(appups.split())
    one = ok(deliver(config, "show", "appup", "0.2.0", "--app=hello")).stdout
    assert one == kept.read_text()
    other = deliver(config, "show", "appup", "0.2.0", "--app=nope")
    assert other.exit_code == 2 and "has no appup of nope (it has hello)" in other.stderr


def test_show_appup_writes_the_stored_appups_as_overrides(
    mix_app: UpgradeApp, tmp_path: Path
) -> None:
    config = mix_app.repo / ".deliver"
    overrides = tmp_path / "rel/appups"
    wrote = ok(deliver(config, "show", "appup", "0.2.0", f"--write-to={overrides}"))
    written = overrides / "hello/0.1.0-0.2.0.appup"
    assert wrote.stdout == f"-----> Wrote {written}\n"
    kept = mix_app.store / "hello_0.2.0.upgrade.tar.gz.appups/hello/0.1.0-0.2.0.appup"
    assert written.read_text() == kept.read_text()
    again = ok(deliver(config, "show", "appup", "0.2.0", f"--write-to={overrides}"))
    assert again.stdout == f"-----> {written} is up to date\n"
    written.write_text("%% mine\n" + kept.read_text())
    kept_mine = deliver(config, "show", "appup", "0.2.0", f"--write-to={overrides}")
    assert kept_mine.exit_code == 2
    assert f"{written} already exists and differs" in kept_mine.stderr
    assert written.read_text().startswith("%% mine")
    ok(deliver(config, "show", "appup", "0.2.0", f"--write-to={overrides}", "--force"))
    assert written.read_text() == kept.read_text()


def test_build_upgrade_refuses_the_same_version_and_needs_an_old_release(
    mix_app: UpgradeApp,
) -> None:
    config = mix_app.repo / ".deliver"
    same = deliver(config, "build", "upgrade", "--with=0.1.0", "--to=v0.1.0")
    assert same.exit_code == 2
    assert "the new release would be 0.1.0 again" in same.stderr
    neither = deliver(config, "build", "upgrade")
    assert neither.exit_code == 2
    assert (
        "give the old release: --from=<git ref>, --with=<stored version> or "
        "--from-env=<environment>" in neither.stderr
    )
