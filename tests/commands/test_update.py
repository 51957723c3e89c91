"""`deliver update` end to end: build, migrate, deploy, restart, verify, prune."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import BuiltApp, bump_version, edit_config, make_app_repo, run_cli, write_config

pytestmark = pytest.mark.slow


def test_update_builds_migrates_restarts_verifies_and_prunes(
    sandbox: Sandbox, two_versions: BuiltApp, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    bump_version(repo, "0.1.2")
    store = tmp_path / "store"
    shutil.copytree(two_versions.store, store)
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/update_e2e", store=store)
    data_dir = f"{sandbox.host('web1').home}/update_e2e/data"

    def settings(data: dict[str, Any]) -> None:
        data["keep_releases"] = 2
        data["environments"]["production"]["env"] = {"HELLO_DATA_DIR": data_dir}

    edit_config(config, settings)
    for version in ("0.1.0", "0.1.1"):
        deployed = run_cli(
            "--config", config, "deploy", "release", "production", "--version", version
        )
        assert deployed.exit_code == 0, deployed.output

    try:
        result = run_cli(
            "--config", config, "update", "production", "--start-deploy", "--run-migrations"
        )
        assert result.exit_code == 0, result.output
        steps = [line for line in result.stdout.splitlines() if line.startswith("----->")]
        order = [
            "-----> Built hello 0.1.2",
            "-----> Running the migrations of 0.1.2 on web1",
            "-----> Switching to 0.1.2 and restarting hello on 2 hosts, 1 at a time",
            "-----> batch 1/2: web1 ... healthy",
            "-----> batch 2/2: web2 ... healthy",
            "-----> Every host runs hello 0.1.2",
        ]
        positions = [next(i for i, s in enumerate(steps) if s.startswith(o)) for o in order]
        assert positions == sorted(positions), steps
        assert "web1 | migrated 1 create_counters" in result.stdout
        assert "web1: 0.1.2" in result.stdout and "web2: 0.1.2" in result.stdout
        assert ask_app(sandbox, "web1") == ask_app(sandbox, "web2") == "hello 0.1.2\n"
        # keep_releases: 2 keeps current (0.1.2) and previous (0.1.1), archives included
        for host in ("web1", "web2"):
            assert on_host(sandbox, host, "ls ~/update_e2e/releases").split() == [
                "0.1.1", "0.1.1.tar.gz", "0.1.1.tar.gz.sha256",
                "0.1.2", "0.1.2.tar.gz", "0.1.2.tar.gz.sha256",
            ]  # fmt: skip
        assert "web1: removed 0.1.0" in result.stdout
    finally:
        run_cli("--config", config, "stop", "production")
