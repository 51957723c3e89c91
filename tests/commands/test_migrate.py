"""Migrations: which expression runs, and running them on the primary host of the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deliver.commands.migrate import task_expression
from deliver.config import Config, Migrations, SshSettings
from deliver.errors import UsageError
from deliver.sandbox import Sandbox
from tests.commands.test_deploy import on_host
from tests.conftest import edit_config, host_entry, run_cli


def config(migrations: Migrations | None = None) -> Config:
    return Config(
        ".deliver", Path("."), "my_shop", None, Path("."), {}, SshSettings(), migrations=migrations
    )


@pytest.mark.parametrize(
    ("direction", "version", "expression"),
    [
        ("up", None, "MyShop.Release.migrate()"),
        ("down", "20240101120000", "MyShop.Release.rollback(20240101120000)"),
    ],
)
def test_default_tasks_follow_the_phoenix_convention(
    direction: str, version: str | None, expression: str
) -> None:
    assert task_expression(config(), direction, version) == expression


@pytest.mark.parametrize(
    ("direction", "version", "message"),
    [
        ("down", None, "version: required to migrate down: without one it would roll back"),
        ("up", "3", r"version: not taken by migrations.up \(MyShop.Release.migrate\(\)\)"),
        ("down", "1); System.halt(", "version: expected a migration version"),
        ("sideways", None, "expected up or down"),
    ],
)
def test_what_cannot_run_is_refused(direction: str, version: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        task_expression(config(), direction, version)


def test_configured_up_may_take_a_version() -> None:
    tasks = Migrations("Shop.up({version})", "Shop.down({version})", "Shop.status()")
    assert task_expression(config(tasks), "up", "7") == "Shop.up(7)"
    with pytest.raises(UsageError, match=r"version: required by migrations.up \(Shop.up"):
        task_expression(config(tasks), "up", None)


def data_dirs(sandbox: Sandbox, config: Path) -> dict[str, str]:
    """Each host's HELLO_DATA_DIR, inside this test's deliver_to: where the DETS store lives."""
    deliver_to = config.read_text().split("deliver_to: ~/")[1].split()[0]
    return {name: f"{sandbox.host(name).home}/{deliver_to}/data" for name in ("web1", "web2")}


@pytest.mark.slow
def test_migrations_run_on_the_primary_host_with_eval_then_rpc(
    sandbox: Sandbox, deployment: Path
) -> None:
    dirs = data_dirs(sandbox, deployment)

    def primary_web2(data: dict[str, Any]) -> None:
        for name, directory in dirs.items():
            host_entry(data, name)["env"]["HELLO_DATA_DIR"] = directory
        host_entry(data, "web2")["primary"] = True

    edit_config(deployment, primary_web2)
    deployed = run_cli("--config", deployment, "deploy", "release", "production")
    assert deployed.exit_code == 0, deployed.output

    status = run_cli("--config", deployment, "show", "migrations", "production")
    assert status.exit_code == 0, status.output
    assert "web2 | down 1 create_counters\nweb2 | down 2 add_hits\n" in status.stdout
    assert "web2: done (bin/hello eval)" in status.stdout

    up = run_cli("--config", deployment, "migrate", "production", "up")
    assert up.exit_code == 0, up.output
    assert "web2 | migrated 1 create_counters\nweb2 | migrated 2 add_hits\n" in up.stdout
    assert on_host(sandbox, "web2", f"ls {dirs['web2']}") == "hello_migrations.dets"
    assert on_host(sandbox, "web1", f"ls {dirs['web1']} 2>&1 || true").endswith(
        "No such file or directory"
    )

    bare = run_cli("--config", deployment, "migrate", "production", "down")
    assert bare.exit_code == 2
    assert "migrate down needs --version: without one it would roll back every migration" in (
        bare.stderr
    )

    started = run_cli("--config", deployment, "start", "production", "--host", "web2")
    assert started.exit_code == 0, started.output
    down = run_cli("--config", deployment, "migrate", "production", "down", "--version=1")
    assert down.exit_code == 0, down.output
    assert "web2 | rolled back 2 add_hits" in down.stdout
    assert "web2: done (inside the running node)" in down.stdout
    status = run_cli("--config", deployment, "show", "migrations", "production")
    assert "web2 | up 1 create_counters\nweb2 | down 2 add_hits\n" in status.stdout
    assert "web2: done (inside the running node)" in status.stdout

    edit_config(deployment, lambda data: data.update(migrations={"up": 'raise "schema locked"'}))
    failed = run_cli("--config", deployment, "migrate", "production")
    assert failed.exit_code == 1
    assert "migrating up failed on web2 (exit status 1)" in failed.stderr
    assert "(RuntimeError) schema locked" in failed.stderr
