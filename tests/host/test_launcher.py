"""Launcher variables a login exports (RELEASE_*, MIX_*, ERL_*FLAGS, ELIXIR_ERL_OPTIONS,
ERL_LIBS) never reach bin/<app>; what the host's env in .deliver sets does."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deliver.host.layout import ENV_FILE, in_root
from deliver.sandbox import Sandbox, start_sandbox, stop_sandbox
from tests.conftest import BuiltApp, edit_config, host_entry, run_cli, write_config

LOGIN_ENV = {
    "RELEASE_NODE": "intruder",
    "RELEASE_COOKIE": "from-the-login",
    "MIX_ENV": "dev",
    "ERL_AFLAGS": "-deliver_injected yes",
    "ERL_ZFLAGS": "-deliver_injected_too yes",
    "ELIXIR_ERL_OPTIONS": "-deliver_injected_three yes",
    "ERL_LIBS": "/nonexistent",
    "ERL_EPMD_PORT_NOT_A_FLAG": "kept",
    "KEEP_ME": "kept",
}


def test_the_prelude_unsets_inherited_launcher_variables_then_loads_the_env_file(
    tmp_path: Path,
) -> None:
    (tmp_path / ENV_FILE).write_text("RELEASE_COOKIE=from-deliver\nERL_AFLAGS='-from deliver'\n")
    script = in_root(str(tmp_path), "env")
    # a value holding a newline cannot smuggle a line that keeps a variable
    env = {**LOGIN_ENV, "PATH": "/usr/bin:/bin", "TRICK": "x\nRELEASE_VSN=9"}
    for shell in ("sh", "bash"):
        seen = subprocess.run(
            [shell, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert "RELEASE_COOKIE=from-deliver" in seen and "ERL_AFLAGS=-from deliver" in seen
        assert "KEEP_ME=kept" in seen and "ERL_EPMD_PORT_NOT_A_FLAG=kept" in seen
        for name in ("RELEASE_NODE", "MIX_ENV", "ERL_ZFLAGS", "ELIXIR_ERL_OPTIONS", "ERL_LIBS"):
            assert not any(line.startswith(f"{name}=") for line in seen), (shell, name)


@pytest.fixture(scope="module")
def polluted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose sshd gives every session the login environment above."""
    root = tmp_path_factory.mktemp("polluted")
    box = start_sandbox(root, targets=1, login_env=LOGIN_ENV)
    yield box
    stop_sandbox(root)


@pytest.mark.slow
def test_a_node_runs_as_deliver_says_whatever_the_login_exports(
    polluted: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "deliver.yml", polluted, deliver_to="~/polluted", store=built_app.store
    )
    kept = "-deliver_kept yes"
    edit_config(
        config, lambda data: host_entry(data, "web1")["env"].update(ELIXIR_ERL_OPTIONS=kept)
    )
    try:
        started = run_cli("--config", config, "deploy", "release", "production", "--start-deploy")
        assert started.exit_code == 0, started.output
        asked = run_cli(
            "--config",
            config,
            "rpc",
            "production",
            '{node() |> to_string() |> String.split("@") |> hd(), '
            ":init.get_argument(:deliver_injected), :init.get_argument(:deliver_injected_too), "
            ":init.get_argument(:deliver_injected_three), :init.get_argument(:deliver_kept), "
            ':code.get_path() |> Enum.any?(&(&1 == ~c"/nonexistent"))}',
        )
        assert asked.exit_code == 0, asked.output
        assert "web1 | {\"hello\", :error, :error, :error, {:ok, [['yes']]}, false}" in (
            asked.stdout
        )
        assert run_cli("--config", config, "ping", "production").exit_code == 0
    finally:
        run_cli("--config", config, "stop", "production")
