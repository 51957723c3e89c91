"""`deliver init` on the sample apps: the config it writes loads as written (what `check
config` does), names the right app, tool and release, and nothing is left behind on a
mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deliver.config.load import load_config
from tests.conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def sample(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    app = tmp_path / name
    shutil.copytree(EXAMPLES / name, app)
    (app / ".git").mkdir()
    monkeypatch.chdir(app)
    return app


@pytest.mark.parametrize(
    ("example", "app", "tool", "release"),
    [
        ("hello", "hello", "mix", None),
        ("shop_umbrella", "shop", "mix", "shop"),
        ("counter_erl", "counter_erl", "rebar3", None),
    ],
)
def test_init_writes_a_config_check_config_accepts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    example: str,
    app: str,
    tool: str,
    release: str | None,
) -> None:
    directory = sample(tmp_path, example, monkeypatch)
    result = run_cli("init")
    assert result.exit_code == 0, result.output
    assert f"({tool} project, app {app})" in result.stdout
    assert "deliver deploy release to production --start-deploy" in result.stdout
    config = load_config(directory / ".deliver.yml", environ={})
    assert config.app == app
    assert config.require_build().release == release
    assert [h.name for h in config.environment("production").hosts] == ["deploy@web1.example.com"]
    assert run_cli("check", "config").exit_code == 0
    assert "/.deliver-releases/" in (directory / ".gitignore").read_text().splitlines()


def test_flags_fill_the_config_and_gitignore_is_added_to_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = sample(tmp_path, "hello", monkeypatch)
    args = ("init", "--build-host", "ci@build1:2222", "--host", "web1,web2", "--host", "web3")
    result = run_cli(*args, "--deliver-to", "/srv/hello", "--environment", "staging")
    assert result.exit_code == 0, result.output
    config = load_config(directory / ".deliver.yml", environ={})
    staging = config.environment("staging")
    assert [h.name for h in staging.hosts] == ["web1", "web2", "web3"]
    assert staging.deliver_to == "/srv/hello"
    assert config.require_build().host.port == 2222
    assert run_cli(*args, "--force").exit_code == 0
    assert (directory / ".gitignore").read_text().count("/.deliver-releases/") == 1


def test_an_existing_config_is_kept_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = sample(tmp_path, "hello", monkeypatch)
    (directory / ".deliver").write_text("app: hello\n")
    refused = run_cli("init")
    assert refused.exit_code == 2
    assert ".deliver exists already" in refused.stderr
    assert not (directory / ".deliver.yml").exists()


def test_a_bad_host_is_refused_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = sample(tmp_path, "hello", monkeypatch)
    result = run_cli("init", "--host", "web 1")
    assert result.exit_code == 2
    assert 'environments.production.hosts[0]: expected "[user@]host[:port]"' in result.stderr
    assert not (directory / ".deliver.yml").exists()


def test_outside_a_project_init_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("init")
    assert result.exit_code == 2
    assert "has no mix.exs or rebar.config" in result.stderr


def test_in_a_subdirectory_of_the_app_init_writes_at_the_apps_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sample(tmp_path, "hello", monkeypatch)
    monkeypatch.chdir(app / "lib" / "hello")
    result = run_cli("init", "--build-host", "build", "--host", "web1")
    assert result.exit_code == 0, result.output
    assert f"Wrote {app / '.deliver.yml'} (mix project, app hello)" in result.stdout
    assert not (app / "lib" / "hello" / ".deliver.yml").exists()
    assert "/.deliver-releases/" in (app / ".gitignore").read_text()
    # found from there too, as every command finds it
    assert run_cli("check", "config").exit_code == 0


def test_a_subdirectory_outside_any_repository_is_not_taken_for_an_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mix.exs").write_text("defmodule X.MixProject do\nend\n")
    (tmp_path / "lib").mkdir()
    monkeypatch.chdir(tmp_path / "lib")
    result = run_cli("init")
    assert result.exit_code == 2
    assert f"{tmp_path / 'lib'} has no mix.exs or rebar.config" in result.stderr
