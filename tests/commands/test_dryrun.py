"""`--dry-run` on every mutating command against real sandbox hosts: each host's plan is
printed, and nothing changes anywhere (a checksum listing of every host's home, and of the
local store, is the same before and after)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from deliver.host.lock import LockInfo
from deliver.sandbox import Sandbox
from tests.conftest import BuiltApp, edit_config, run_cli


def listing(root: Path) -> dict[str, str]:
    """path -> type, mode, and content hash (files) or target (links), for every entry."""
    entries: dict[str, str] = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = Path(directory, name)
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            what = f"{kind:o} {stat.S_IMODE(info.st_mode):o}"
            if stat.S_ISREG(info.st_mode):
                what += " " + hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                what += " -> " + os.readlink(path)
            entries[str(path.relative_to(root))] = what
    return entries


def everything(sandbox: Sandbox, store: Path) -> dict[str, dict[str, str]]:
    homes = {host.name: listing(Path(host.home)) for host in sandbox.hosts}
    return {**homes, "local store": listing(store)}


@pytest.mark.slow
def test_dry_runs_say_what_would_happen_and_change_nothing(
    sandbox: Sandbox, two_versions: BuiltApp, versions_deployment: Path
) -> None:
    config = versions_deployment
    before = everything(sandbox, two_versions.store)
    first = run_cli("--config", config, "deploy", "release", "production", "--dry-run")
    assert first.exit_code == 0, first.output
    for host in ("web1", "web2"):
        assert f"{host}: upload hello_0.1.1.release.tar.gz (" in first.stdout
        assert f"{host}: switch current: (none) -> 0.1.1" in first.stdout
    assert "Dry run done: nothing was changed on 2 host(s)" in first.stdout
    assert everything(sandbox, two_versions.store) == before  # not even deliver_to made

    for version in ("0.1.0", "0.1.1"):
        deployed = run_cli(
            "--config", config, "deploy", "release", "production", "--version", version
        )
        assert deployed.exit_code == 0, deployed.output
    before = everything(sandbox, two_versions.store)

    edit_config(config, lambda data: data.update(hooks={"post_start": "echo started"}))
    again = run_cli(
        "--config", config, "--dry-run", "--debug", "deploy", "release", "production",
        "--version", "0.1.0", "--start-deploy", "--run-migrations",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "web1: skip the upload: hello_0.1.0.release.tar.gz is there" in again.stdout
    assert "web1: switch current: 0.1.1 -> 0.1.0" in again.stdout
    assert "web1: run migrations (primary host): Hello.Release.migrate()" in again.stdout
    assert "web2: run migrations" not in again.stdout
    assert "\n  Restart on 2 hosts, 1 at a time: 2 batches" in again.stdout
    assert "web1: restart: start 0.1.0, wait until it answers" in again.stdout
    assert "web1: prune: nothing (keep_releases 5)" in again.stdout
    assert "web2: hook post_start_deployed_release: deliver.yml: hooks.post_start" in again.stdout
    # --debug: the exact commands a real run would send, made by the same code, not run
    assert "web1 $ (not run: switching)" in again.stderr and "mv -T" in again.stderr
    assert "web1 $ (not run: extracting)" in again.stderr

    plans = {
        ("rollback", "production"): "web1: switch current: 0.1.1 -> 0.1.0, mark 0.1.1 rolled back",
        ("restart", "production"): "web2: restart: start 0.1.1, wait until it answers",
        ("start", "production"): "web1: start 0.1.1 unless its node is up",
        ("stop", "production"): "web1: nothing to stop: no node was started",
        ("migrate", "production"): "web1: migrate up on the primary host: Hello.Release.migrate()",
        ("prune", "releases", "--keep", "1"): "would remove 0.1.0",
    }
    for words, expected in plans.items():
        result = run_cli("--config", config, *words, "--dry-run")
        assert result.exit_code == 0, (words, result.output)
        assert expected in result.stdout, (words, result.stdout)
    as_json = run_cli("--config", config, "--json", "stop", "production", "--dry-run")
    assert as_json.exit_code == 0, as_json.output
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {(e["host"], e["text"]) for e in events if e["event"] == "plan"} == {
        ("web1", "nothing to stop: no node was started from a release here"),
        ("web2", "nothing to stop: no node was started from a release here"),
    }
    # update and upgrade build first: from the app's repository
    in_repo = two_versions.repo / ".deliver-dryrun.yml"
    in_repo.write_text(config.read_text())
    builds = {
        "update": "web2: 0.1.1 is current here already: the deploy leaves it alone",
        "upgrade": "web1: build the upgrade from 0.1.1 (what the node runs)",
    }
    for command, expected in builds.items():
        result = run_cli("--config", in_repo, command, "production", "--dry-run")
        assert result.exit_code == 0, (command, result.output)
        assert expected in result.stdout
        assert "  build: build " in result.stdout and " main (" in result.stdout
        # the build host, probed read-only: its tree, its tools, its lock
        assert "build: reachable; build tree ~/build/hello at " in result.stdout
        assert re.search(
            r"build: tools: git, mix, erl; Erlang/OTP \d+, ERTS [\d.]+\n", result.stdout
        )
        assert "build: build lock: free" in result.stdout
    update = run_cli("--config", in_repo, "update", "production", "--dry-run")
    assert "build: build a release of hello 0.1.1 from main (" in update.stdout
    assert "holds this commit's build of 0.1.1: reused, not rebuilt" in update.stdout
    lock = Path(sandbox.host("build").home) / "build/hello/.git/.deliver.lock"
    lock.mkdir()
    (lock / "info").write_text(LockInfo("ann@laptop", 1, "build release", 1, 2**40).lines())
    try:
        held = run_cli("--config", in_repo, "upgrade", "production", "--dry-run")
    finally:
        shutil.rmtree(lock)
    assert held.exit_code == 0, held.output
    assert "build: build lock: locked by ann@laptop since " in held.stdout
    assert "(build release): the build would wait for it or be refused" in held.stdout
    restart = run_cli("--config", config, "restart", "production", "--dry-run", "--debug")
    assert restart.exit_code == 0, restart.output
    assert "web2 $ (not run: stopping the node)" in restart.stderr
    assert "web2 $ (not run: starting the node)" in restart.stderr
    assert everything(sandbox, two_versions.store) == before


def test_a_dry_run_of_a_host_it_cannot_reach_fails_naming_it(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nrelease_store: store\nenvironments:\n  production:\n"
        "    deliver_to: ~/app\n    hosts: [127.0.0.1:1]\n"
    )
    (tmp_path / "store").mkdir()
    result = run_cli("--config", config, "restart", "production", "--dry-run")
    assert result.exit_code == 3, result.output
    assert "dry run failed on 1 host(s): 127.0.0.1:1" in result.stderr


@pytest.mark.parametrize(
    "words",
    [
        ("build", "release"),
        ("lock", "acquire", "production"),
        ("upload", "release"),
        ("systemd", "unit", "--install"),
        ("exec", "production", "true"),
    ],
)
def test_a_command_without_a_dry_run_refuses_the_flag(tmp_path: Path, words: tuple[str]) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    deliver_to: ~/app\n    hosts: [web1]\n"
    )
    result = run_cli("--config", config, "--dry-run", *words)
    assert result.exit_code == 2, result.output
    assert f"--dry-run: deliver {words[0]} has no dry run" in result.stderr
