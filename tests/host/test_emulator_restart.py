"""The pieces of a restart_emulator upgrade that need no node: the start program heart runs
(run here by sh, with a stand-in launcher) and the install/make_permanent codes of mix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deliver.host.emulator_restart import MARK, NoHeart, check_heart, start_program
from deliver.tools import hot_upgrades
from deliver.tools.mix import elixir_string


def release_root(tmp_path: Path, app: str = "hello") -> Path:
    """A release root with a bin/<app> that prints what it was asked to boot."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases/start_erl.data").write_text("14.2 0.1.0\n")
    launcher = tmp_path / "bin" / app
    launcher.write_text('#!/bin/sh\necho "$RELEASE_VSN $1 $(pwd -P)"\n')
    launcher.chmod(0o755)
    start = tmp_path / "bin/start"
    start.write_text(start_program(app))
    start.chmod(0o700)
    return tmp_path


def run_start(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # run from elsewhere, as heart does: the program finds its own root
    return subprocess.run([str(root / "bin/start"), *args], capture_output=True, text=True, cwd="/")


def test_the_start_program_boots_the_version_the_data_file_names(tmp_path: Path) -> None:
    root = release_root(tmp_path)
    (root / "releases/new_start_erl.data").write_text("14.2 0.3.0")
    booted = run_start(root, str(root / "releases/new_start_erl.data"))
    assert booted.returncode == 0, booted.stderr
    assert booted.stdout.strip() == f"0.3.0 daemon {root.resolve()}"
    # without an argument: the permanent release, as a plain start would
    assert run_start(root).stdout.strip() == f"0.1.0 daemon {root.resolve()}"


@pytest.mark.parametrize("version", ["0.3.0;touch${IFS}/tmp/x", "$(id)", "../../x", ""])
def test_the_start_program_boots_no_hostile_version(tmp_path: Path, version: str) -> None:
    root = release_root(tmp_path)
    (root / "data").write_text(f"14.2 {version}\n")
    refused = run_start(root, str(root / "data"))
    assert refused.returncode != 0
    assert refused.stdout == ""


def test_the_start_program_is_marked_and_quotes_the_app() -> None:
    program = start_program("my app")
    assert program.splitlines()[1] == MARK
    assert "exec bin/'my app' daemon" in program


def test_mix_makes_the_release_permanent_only_on_the_new_node() -> None:
    codes = hot_upgrades("mix").restart_codes("hello", '0.3.0"; System.halt()')
    assert codes is not None
    install, permanent = codes
    assert ":release_handler.install_release(" in install
    assert "make_permanent" not in install
    assert "{:continue_after_restart, _, _} -> :ok" in install  # restart_new_emulator
    assert ":release_handler.make_permanent(" in permanent
    # the version enters the code as a string literal only
    literal = elixir_string('0.3.0"; System.halt()')
    assert permanent.startswith(f"vsn_text = {literal}\n")
    assert "PERMANENT=" in permanent


def test_rebar3_nodes_are_not_restarted_into_a_new_emulator() -> None:
    assert hot_upgrades("rebar3").restart_codes("counter_erl", "0.2.0") is None


class Named:
    """Only a host name: these refusals come before any command is run."""

    name = "web1"


@pytest.mark.parametrize(
    ("tool", "manager", "why"),
    [
        ("mix", "systemd", "its node is started by systemd (node.manager)"),
        ("mix", "command", "heart would start the new emulator outside command's control"),
        ("rebar3", "daemon", "deliver cannot restart the emulator of rebar3 nodes"),
    ],
)
def test_heart_is_not_enough_under_a_manager_or_for_rebar3(
    tool: str, manager: str, why: str
) -> None:
    with pytest.raises(NoHeart) as refused:
        check_heart(Named(), "/srv/app", tool, "hello", manager)  # type: ignore[arg-type]
    assert str(refused.value).startswith("web1: ")
    assert why in str(refused.value)
