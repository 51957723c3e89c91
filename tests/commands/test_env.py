"""The env that travels with each release, `deliver env diff|push`, and a deploy of another
build of a version, on real sandbox hosts."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import BuiltApp, edit_config, host_entry, run_cli
from tests.faults.injectors import sshd_down

pytestmark = pytest.mark.slow

HOSTS = ("web1", "web2")


def deliver_to_of(config: Path) -> str:
    return config.read_text().split("deliver_to: ")[1].split()[0]


def test_rollback_of_a_bad_env_change_boots_the_old_release_with_its_old_env(
    sandbox: Sandbox, versions_deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = versions_deployment
    deliver_to = deliver_to_of(config)
    first = run_cli("--config", config, "deploy", "release", "production", "--version=0.1.0")
    assert first.exit_code == 0, first.output
    started = run_cli("--config", config, "start", "production")
    assert started.exit_code == 0, started.output
    ports = {host: str(sandbox.host(host).app_port) for host in HOSTS}

    def set_port(data: dict[str, Any], port: str | None = None) -> None:
        for host in HOSTS:
            host_entry(data, host)["env"]["PORT"] = port or ports[host]

    # a bad env change: the app cannot read its port, so 0.1.1 crashes on boot
    # The health check asks the app on {PORT}: a rollback and a restart fill it from the env
    # the node boots with, not from .deliver's
    def bad_env(data: dict[str, Any]) -> None:
        set_port(data, "not-a-port")
        data["health_check"] = {"url": "http://127.0.0.1:{PORT}/", "retries": 2}

    edit_config(config, bad_env)
    bad = run_cli(
        "--config",
        config,
        "deploy",
        "release",
        "production",
        "--start-deploy",
        "--all-at-once",
        "--no-rollback-on-failure",
    )
    assert bad.exit_code == 1, bad.output
    assert "0.1.1 crashed while starting" in bad.stderr

    # --all-at-once: both hosts in parallel, the test is about the env, not the batches
    back = run_cli("--config", config, "rollback", "production", "--all-at-once")
    assert back.exit_code == 0, back.output
    assert (
        "restoring the env 0.1.0 was deployed with on web1, web2 "
        "(releases/0.1.0/.deliver-env): it differs from the env they had"
    ) in back.stdout
    for host in HOSTS:
        assert ask_app(sandbox, host) == "hello 0.1.0\n"
        env_file = on_host(sandbox, host, f"cat {deliver_to}/deliver.env")
        assert env_file == f"export PORT={ports[host]}"

    # .deliver still holds the bad env: a restart boots the hosts' and says so
    restarted = run_cli("--config", config, "restart", "production", "--all-at-once")
    assert restarted.exit_code == 0, restarted.output
    assert (
        "the env in .deliver differs from the deliver.env of web1, web2: the nodes boot "
        "with the hosts'"
    ) in restarted.stderr
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"

    # fixed in .deliver, with a new secret: diff names what differs, never a secret's value
    monkeypatch.setenv("HELLO_TOKEN", "token-value-123")

    def fixed(data: dict[str, Any]) -> None:
        set_port(data)
        data["environments"]["production"]["env"] = {"TOKEN": "${HELLO_TOKEN}"}

    edit_config(config, fixed)
    diff = run_cli("--config", config, "env", "diff", "production")
    assert diff.exit_code == 1, diff.output
    assert "web1: TOKEN: only in .deliver" in diff.output
    assert "token-value-123" not in diff.output and "PORT" not in diff.output
    assert "error: the env of web1, web2 differs from .deliver" in diff.stderr
    assert "deliver env push production writes the env of .deliver to them" in diff.stderr

    pushed = run_cli("--config", config, "env", "push", "production", "--restart", "--all-at-once")
    assert pushed.exit_code == 0, pushed.output
    assert "web1: env of 0.1.0 written" in pushed.stdout
    assert pushed.stdout.count(" answered 200") == 2  # both restarted, healthy
    for host in HOSTS:
        kept = on_host(sandbox, host, f"cat {deliver_to}/releases/0.1.0/.deliver-env")
        assert kept == on_host(sandbox, host, f"cat {deliver_to}/deliver.env")
        assert "export TOKEN=token-value-123" in kept
        mode = on_host(sandbox, host, f"stat -c %a {deliver_to}/releases/0.1.0/.deliver-env")
        assert mode == "600"
    again = run_cli("--config", config, "env", "diff", "production")
    assert again.exit_code == 0, again.output
    assert "web1: as in .deliver" in again.stdout


def other_build(store: Path, into: Path) -> dict[str, Any]:
    """A copy of `store` whose 0.1.0 is another build: the same files packed anew (so other
    bytes) and said to come from another commit."""
    shutil.copytree(store, into)
    archive = into / "hello_0.1.0.release.tar.gz"
    archive.write_bytes(gzip.compress(gzip.decompress(archive.read_bytes()), 9, mtime=1))
    manifest_path = into / "hello_0.1.0.release.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(
        commit="b" * 40,
        sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
        size=archive.stat().st_size,
    )
    manifest_path.write_text(json.dumps(manifest))
    return manifest


def test_another_build_of_a_deployed_version_needs_force_and_never_replaces_a_running_one(
    sandbox: Sandbox, built_app: BuiltApp, deployment: Path, tmp_path: Path
) -> None:
    deliver_to = deliver_to_of(deployment)
    first = run_cli(
        "--config", deployment, "deploy", "release", "production", "--start-deploy", "--all-at-once"
    )
    assert first.exit_code == 0, first.output
    ours = json.loads((built_app.store / "hello_0.1.0.release.json").read_text())
    theirs_store = tmp_path / "theirs"
    theirs = other_build(built_app.store, theirs_store)
    config = tmp_path / "theirs.yml"
    config.write_text(deployment.read_text().replace(str(built_app.store), str(theirs_store)))

    refused = run_cli("--config", config, "deploy", "release", "production")
    assert refused.exit_code == 1, refused.output
    assert (
        f"web1: holds a different build of hello 0.1.0: commit {ours['commit'][:10]} (sha256 "
        f"{ours['sha256'][:16]}) on the host, commit bbbbbbbbbb (sha256 "
        f"{theirs['sha256'][:16]}) in the store"
    ) in refused.stderr
    assert "deliver deploy release --force" in refused.stderr

    running = run_cli("--config", config, "deploy", "release", "production", "--force")
    assert running.exit_code == 1, running.output
    assert "web1: its node runs from releases/0.1.0" in running.stderr
    assert "or stop the nodes that run it first (deliver stop production" in running.stderr
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"  # untouched

    stopped = run_cli("--config", config, "stop", "production")
    assert stopped.exit_code == 0, stopped.output
    forced = run_cli(
        "--config",
        config,
        "deploy",
        "release",
        "production",
        "--force",
        "--start-deploy",
        "--all-at-once",
    )
    assert forced.exit_code == 0, forced.output
    for host in HOSTS:
        held = on_host(sandbox, host, f"cat {deliver_to}/releases/0.1.0/.deliver-sha256")
        assert held == theirs["sha256"]
        assert ask_app(sandbox, host) == "hello 0.1.0\n"


def test_env_show_says_what_each_node_booted_with_and_how_it_compares(
    sandbox: Sandbox, deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ("--config", deployment)
    monkeypatch.setenv("HELLO_TOKEN", "token-value-456")
    edit_config(
        deployment,
        lambda data: data["environments"]["production"].update(env={"TOKEN": "${HELLO_TOKEN}"}),
    )
    started = run_cli(*config, "deploy", "release", "production", "--start-deploy", "--all-at-once")
    assert started.exit_code == 0, started.output
    ports = {host: sandbox.host(host).app_port for host in HOSTS}

    shown = run_cli(*config, "env", "show", "production")
    assert shown.exit_code == 0, shown.output
    for host in HOSTS:
        assert (
            f"{host}: the node started from 0.1.0 booted with releases/0.1.0/.deliver-env: "
            "as .deliver would write it now"
        ) in shown.stdout
        assert f"{host} | PORT={ports[host]}\n" in shown.stdout
        assert f"{host} | TOKEN=****\n" in shown.stdout
    assert "token-value-456" not in shown.output

    # .deliver changes web1's port: said to differ, and with --diff, how (plain values only)
    edit_config(deployment, lambda data: host_entry(data, "web1")["env"].update(PORT="4999"))
    monkeypatch.setenv("HELLO_TOKEN", "token-value-789")
    diff = run_cli(*config, "env", "show", "production", "--diff")
    assert diff.exit_code == 0, diff.output
    assert (
        "web1: the node started from 0.1.0 booted with releases/0.1.0/.deliver-env: differs "
        "from what .deliver would write now (deliver env push production writes it)"
    ) in diff.stdout
    assert f"web1 | differs: PORT: '{ports['web1']}' on the host, '4999' in .deliver" in diff.stdout
    assert "web1 | differs: TOKEN: changed\n" in diff.stdout
    assert "token-value" not in diff.output

    # written by env push after the node started: the node may still run the old one
    time.sleep(1.1)  # file times have whole seconds
    pushed = run_cli(*config, "env", "push", "production", "--host", "web1")
    assert pushed.exit_code == 0, pushed.output
    after = run_cli(*config, "env", "show", "production", "--host", "web1")
    assert "(written after the node started: it may still run with the env from before; " in (
        after.stdout
    )
    assert "web1 | PORT=4999\n" in after.stdout

    # a host that cannot be reached: the others first, then it, exit status 3
    with sshd_down(sandbox, "web2"):
        partial = run_cli(*config, "env", "show", "production")
    assert partial.exit_code == 3, partial.output
    assert "web1 | PORT=4999" in partial.stdout
    assert "error: reading the env failed on 1 host(s): web2" in partial.stderr
    assert "  web2: cannot connect to web2" in partial.stderr
    assert "Traceback" not in partial.output


def test_a_switch_back_checks_health_with_the_env_of_the_release_it_goes_back_to(
    sandbox: Sandbox, versions_deployment: Path
) -> None:
    config = ("--config", versions_deployment)

    def health(path: str) -> Any:
        def change(data: dict[str, Any]) -> None:
            data["health_check"] = {
                "url": "http://127.0.0.1:{PORT}{HEALTH_PATH}",
                "retries": 2,
                "interval": 0.2,
            }
            data["environments"]["production"]["env"] = {"HEALTH_PATH": path}

        return change

    edit_config(versions_deployment, health("/"))
    first = run_cli(
        *config,
        "deploy",
        "release",
        "production",
        "--version=0.1.0",
        "--start-deploy",
        "--all-at-once",
    )
    assert first.exit_code == 0, first.output
    # an env change that breaks the new release's health URL: 0.1.1 is unhealthy, and the
    # switch back is checked with the env 0.1.0 was deployed with (its URL answers)
    edit_config(versions_deployment, health("/nope"))
    bad = run_cli(*config, "deploy", "release", "production", "--version=0.1.1", "--start-deploy")
    assert bad.exit_code == 1, bad.output
    port = sandbox.host("web1").app_port
    assert f"web1: health check failed: http://127.0.0.1:{port}/nope answered 404" in bad.stderr
    assert "web1: started 0.1.0" in bad.stdout
    assert f"http://127.0.0.1:{port}/ answered 200" in bad.stdout
    assert "switched back to 0.1.0: web1" in bad.stderr
    assert "hint: every host runs what it ran before" in bad.stderr
    for host in HOSTS:
        assert ask_app(sandbox, host) == "hello 0.1.0\n"
