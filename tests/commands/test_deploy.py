"""deploy, start, ping, version, stop on two real sandbox hosts with the real sample release."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from deliver.release import Release
from deliver.sandbox import Sandbox
from tests.conftest import BuiltApp, run_cli, write_config
from tests.release_store.test_base import MARKER, PWNED, plant, shown_name, warnings_by_file

pytestmark = pytest.mark.slow


def ask_app(sandbox: Sandbox, host: str, path: str = "/") -> str:
    url = f"http://127.0.0.1:{sandbox.host(host).app_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def on_host(sandbox: Sandbox, host: str, command: str) -> str:
    return subprocess.run(
        ["ssh", "-F", str(sandbox.ssh_config), host, command], capture_output=True, text=True
    ).stdout.strip()


def test_deploy_start_ping_version_stop(sandbox: Sandbox, deployment: Path) -> None:
    result = run_cli(
        "--config", deployment, "deploy", "release", "to", "production", "--start-deploy"
    )
    assert result.exit_code == 0, result.output
    assert "Switching to 0.1.0" in result.stdout
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"
    assert ask_app(sandbox, "web2") == "hello 0.1.0\n"

    ping = run_cli("--config", deployment, "ping", "production")
    assert ping.exit_code == 0, ping.output
    assert "web1: pong (pid" in ping.stdout and "web2: pong (pid" in ping.stdout
    version = run_cli("--config", deployment, "version", "production")
    assert "web1: 0.1.0" in version.stdout and "web2: 0.1.0" in version.stdout

    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    env_file = on_host(
        sandbox, "web1", f"stat -c %a {deliver_to}/deliver.env; cat {deliver_to}/deliver.env"
    )
    assert env_file == f"600\nexport PORT={sandbox.host('web1').app_port}"
    assert on_host(sandbox, "web2", f"readlink {deliver_to}/current") == "releases/0.1.0"

    stop = run_cli("--config", deployment, "stop", "production")
    assert stop.exit_code == 0, stop.output
    assert "web1: stopped 0.1.0" in stop.stdout
    down = run_cli("--config", deployment, "ping", "production")
    assert down.exit_code == 1
    assert "pinging failed on 2 host(s): web1, web2" in down.stderr
    assert "web1: not running (0.1.0 is deployed)" in down.stderr
    asked = run_cli("--config", deployment, "version", "production")
    assert asked.exit_code == 1
    assert "error: asking the version failed on 2 host(s): web1, web2" in asked.stderr


def test_host_filter_and_no_second_upload(sandbox: Sandbox, deployment: Path) -> None:
    first = run_cli("--config", deployment, "deploy", "release", "production", "--host", "web1")
    assert first.exit_code == 0, first.output
    assert "Uploading to 1 host(s)" in first.stdout
    second = run_cli("--config", deployment, "deploy", "release", "production")
    # a rerun touches only the hosts not on the release yet
    assert "web1: already on 0.1.0: left alone" in second.stdout
    assert "Uploading to 1 host(s) and extracting\n" in second.stdout

    started = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert started.exit_code == 0, started.output
    assert "web2: started 0.1.0" in started.stdout and "web1" not in started.stdout
    again = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert "web2: already running 0.1.0" in again.stdout
    ping = run_cli("--config", deployment, "ping", "production")
    assert ping.exit_code == 1 and "web1: not running" in ping.stderr
    assert "succeeded on: web2" in ping.stderr

    unknown = run_cli("--config", deployment, "ping", "production", "--host", "web9")
    assert unknown.exit_code == 2 and "--host web9: not a host of production" in unknown.stderr


def test_unreachable_host_is_named_and_no_host_is_switched(
    sandbox: Sandbox, deployment: Path
) -> None:
    text = deployment.read_text().replace("    hosts:\n", "    hosts:\n      - 127.0.0.1:1\n")
    deployment.write_text(text)
    result = run_cli("--config", deployment, "deploy", "release", "production")
    assert result.exit_code == 3
    assert "connect failed on 1 host(s): 127.0.0.1:1" in result.stderr
    assert "connection refused" in result.stderr and "Traceback" not in result.output
    deliver_to = text.split("deliver_to: ")[1].split()[0]
    assert on_host(sandbox, "web1", f"ls {deliver_to} 2>&1 || true").endswith(
        "No such file or directory"
    )


def test_node_that_crashes_on_start_is_reported_with_its_log(
    sandbox: Sandbox, deployment: Path
) -> None:
    # port 1 needs privileges root has, so take a port that is already listening: web1's sshd
    text = deployment.read_text()
    web1 = sandbox.host("web1")
    deployment.write_text(text.replace(f'PORT: "{web1.app_port}"', f'PORT: "{web1.port}"'))
    result = run_cli(
        "--config",
        deployment,
        "deploy",
        "release",
        "production",
        "--start-deploy",
        "--host",
        "web1",
    )
    assert result.exit_code == 1
    assert "start failed on 1 host(s): web1" in result.stderr
    assert "0.1.0 crashed while starting; last lines of its log:" in result.stderr
    assert "eaddrinuse" in result.stderr

    # the crash stays in the log, but only this boot's lines decide: a good start is "started"
    # (the env file is written by deploy, so the right PORT needs a deploy)
    deployment.write_text(text)
    again = run_cli(
        "--config",
        deployment,
        "deploy",
        "release",
        "production",
        "--start-deploy",
        "--host",
        "web1",
    )
    assert again.exit_code == 0, again.output
    assert "web1: started 0.1.0 (pid" in again.stdout
    assert ask_app(sandbox, "web1") == "hello 0.1.0\n"


def test_a_switch_failing_on_one_host_says_which_hosts_switched(
    sandbox: Sandbox, deployment: Path
) -> None:
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    # a directory named current cannot be replaced by the new link: web2's switch fails
    on_host(sandbox, "web2", f"mkdir -p {deliver_to}/current/keep")
    result = run_cli("--config", deployment, "deploy", "release", "production")
    assert result.exit_code == 1
    assert "switch failed on 1 host(s): web2" in result.stderr
    # a first deploy: web1 had nothing to go back to; the table says what each host has
    assert re.search(r"web1 +0\.1\.0 +- +down", result.stderr)
    assert re.search(r"web2 +- +- +down", result.stderr)
    assert "hint: to finish: deliver deploy release to production --version 0.1.0" in result.stderr
    assert on_host(sandbox, "web1", f"readlink {deliver_to}/current") == "releases/0.1.0"


def home_listing(home: Path, skip: Path) -> dict[str, str]:
    """Every entry under `home` but `skip`: its mode and sha256 (or link target)."""
    listing: dict[str, str] = {}
    for directory, subdirectories, files in os.walk(home):
        if Path(directory) == skip.parent and skip.name in subdirectories:
            subdirectories.remove(skip.name)
        for name in [*subdirectories, *files]:
            path = Path(directory) / name
            info = path.lstat()
            if path.is_symlink():
                content = "-> " + os.readlink(path)
            elif path.is_file():
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = ""
            listing[str(path.relative_to(home))] = f"{oct(info.st_mode)} {content}"
    return listing


def pwned_markers(*roots: Path) -> list[Path]:
    """Every file a `$(touch MARKER)` payload would have made, wherever it ran."""
    return [Path(d) / MARKER for root in roots for d, _, files in os.walk(root) if MARKER in files]


def test_a_tampered_store_runs_nothing_and_the_good_release_still_deploys(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    for path in built_app.store.glob("hello_0.1.0.release.*"):
        shutil.copy(path, store)
    good = Release.from_json((store / "hello_0.1.0.release.json").read_text())
    planted = plant(store, good)
    deliver_to = "tampered_store"
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to=f"~/{deliver_to}", store=store
    )
    homes = {h.name: Path(h.home) for h in sandbox.targets}
    for home in homes.values():  # what version "/../../victim-dir" once made deploy replace
        (home / "victim-dir").mkdir(exist_ok=True)
        (home / "victim-dir" / "keep").write_text("not deliver's\n")
    before = {name: home_listing(home, home / deliver_to) for name, home in homes.items()}

    named_bad = run_cli(
        "--config", config, "deploy", "release", "to", "production", "--version=0.2.0"
    )
    assert named_bad.exit_code == 1, named_bad.output
    assert f"error: {store}/hello_0.2.0.release.json: sha256: expected 64 lowercase hex" in (
        named_bad.stderr
    )
    not_a_version = run_cli(
        "--config", config, "deploy", "release", "to", "production", f"--version=0.1.2{PWNED}"
    )
    assert not_a_version.exit_code == 2, not_a_version.output
    assert not_a_version.stderr.startswith(f"error: --version=0.1.2{PWNED}: not a version")

    deploy = run_cli("--config", config, "deploy", "release", "to", "production")
    assert deploy.exit_code == 0, deploy.output
    assert "Deploying hello 0.1.0" in deploy.stdout
    warnings = [line for line in deploy.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings_by_file("\n".join(warnings), str(store)) == {
        shown_name(name): field for name, field in planted.items()
    }
    for name, home in homes.items():
        assert on_host(sandbox, name, f"readlink ~/{deliver_to}/current") == "releases/0.1.0"
        releases = on_host(sandbox, name, f"ls -A ~/{deliver_to}/releases").split()
        assert releases == ["0.1.0", "0.1.0.tar.gz", "0.1.0.tar.gz.sha256"]
        assert home_listing(home, home / deliver_to) == before[name], name
    assert pwned_markers(*homes.values(), Path("/tmp"), Path.cwd()) == []
