"""The shell commands of the build tools, run against stand-in start scripts: relx's `eval` and
`upgrade` exit 0 on errors, so what they print decides; mix roots get RELEASES once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deliver.config import BuildConfig, HostSpec
from deliver.errors import ConfigError, UsageError
from deliver.tools import build_tool, detect_tool, hot_upgrades, upgrade_builder
from deliver.tools.mix import MixNode
from deliver.tools.rebar3 import Rebar3Node


def fake_script(root: Path, name: str, output: str, status: int = 0) -> None:
    """bin/<name> that logs its arguments to calls.log and answers `output` with `status`."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    script = root / "bin" / name
    script.write_text(
        f'#!/bin/sh\necho "$*" >> "$(dirname "$0")/../calls.log"\n'
        f"cat <<'EOF'\n{output}\nEOF\nexit {status}\n"
    )
    script.chmod(0o755)


def sh(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=root, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("printed", "status", "expected"),
    [
        ("4242", 0, "4242"),
        ("not_started", 0, None),
        ("{error, \"*** eval: {'EXIT',{undef,[]}}\"}", 0, None),
        ("Node is not running!", 1, None),
    ],
)
def test_relx_alive_accepts_only_a_pid(
    tmp_path: Path, printed: str, status: int, expected: str | None
) -> None:
    fake_script(tmp_path, "counter_erl", printed, status)
    result = sh(tmp_path, Rebar3Node().alive("counter_erl"))
    assert (result.returncode == 0) == (expected is not None)
    if expected:
        assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("printed", "expected"),
    [('"0.2.0"', "0.2.0"), ("{error, \"*** eval: {'EXIT',{badarg,[]}}\"}", None)],
)
def test_relx_running_version_accepts_only_a_string(
    tmp_path: Path, printed: str, expected: str | None
) -> None:
    fake_script(tmp_path, "counter_erl", printed)
    result = sh(tmp_path, Rebar3Node().running_version("counter_erl"))
    assert (result.returncode == 0) == (expected is not None)
    if expected:
        assert result.stdout.strip() == expected


UPGRADED = (
    'Unpacked successfully: "0.2.0"\nInstalled Release: 0.2.0\nMade release permanent: "0.2.0"'
)


@pytest.mark.parametrize(
    ("printed", "status", "installed"),
    [
        (UPGRADED, 0, True),
        ("Unpack failed: release_package_not_found", 2, False),
        ("{error, {old_processes, counter_erl_server}}", 0, False),
        (UPGRADED, 4, False),
    ],
)
def test_relx_install_needs_the_permanent_line_and_exit_0(
    tmp_path: Path, printed: str, status: int, installed: bool
) -> None:
    fake_script(tmp_path, "counter_erl", printed, status)
    result = sh(tmp_path, Rebar3Node().install("counter_erl", "0.2.0", upgrade=True))
    assert (result.returncode == 0) == installed
    assert ("INSTALLED=0.2.0" in result.stdout) == installed
    assert (tmp_path / "calls.log").read_text() == "upgrade 0.2.0\n"


def test_relx_downgrade_and_staging(tmp_path: Path) -> None:
    fake_script(tmp_path, "counter_erl", 'Made release permanent: "0.1.0"')
    assert sh(tmp_path, Rebar3Node().install("counter_erl", "0.1.0", upgrade=False)).returncode == 0
    assert (tmp_path / "calls.log").read_text() == "downgrade 0.1.0\n"
    (tmp_path / "releases").mkdir()
    (tmp_path / "up.tar.gz").write_bytes(b"archive")
    stage = Rebar3Node().stage_upgrade("counter_erl", str(tmp_path / "up.tar.gz"), "0.2.0")
    assert sh(tmp_path, stage).returncode == 0
    assert (tmp_path / "releases/counter_erl-0.2.0.tar.gz").read_bytes() == b"archive"


def test_mix_daemon_creates_releases_once(tmp_path: Path) -> None:
    fake_script(tmp_path, "hello", "")
    (tmp_path / "releases").mkdir()
    assert sh(tmp_path, MixNode().daemon("hello")).returncode == 0
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["eval", "daemon"]
    assert ":release_handler.create_RELEASES(" in calls[0]

    (tmp_path / "releases/RELEASES").write_text("[].\n")
    (tmp_path / "calls.log").unlink()
    assert sh(tmp_path, MixNode().daemon("hello")).returncode == 0
    assert (tmp_path / "calls.log").read_text() == "daemon\n"


def test_mix_daemon_starts_even_when_releases_cannot_be_written(tmp_path: Path) -> None:
    # the node's own start then reports why the release is broken, from its log
    fake_script(tmp_path, "hello", "** (MatchError) no match", status=1)
    result = sh(tmp_path, MixNode().daemon("hello"))
    assert result.returncode == 1  # what the (stand-in) daemon answered
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["eval", "daemon"]


def build_config(tool: str = "auto") -> BuildConfig:
    return BuildConfig(host=HostSpec.parse("build"), at="~/b", tool=tool)


def test_detects_rebar3_from_rebar_config(tmp_path: Path) -> None:
    (tmp_path / "rebar.config").write_text("{relx, []}.\n")
    assert detect_tool(tmp_path, build_config(), ".deliver") == "rebar3"
    (tmp_path / "mix.exs").write_text("")
    assert detect_tool(tmp_path, build_config(), ".deliver") == "mix"
    with pytest.raises(ConfigError, match=r"no mix\.exs or rebar\.config"):
        detect_tool(tmp_path / "nowhere", build_config(), ".deliver")


def test_rebar3_builds_the_profile_into_an_empty_rel_dir() -> None:
    steps = build_tool("rebar3").build_steps("counter_erl", build_config())
    assert [(s.title, s.hook) for s in steps] == [
        ("Fetching dependencies", "erlang_get_and_update_deps"),
        ("Compiling", "erlang_clean_compile"),
        ("Generating release", "erlang_generate_release"),
    ]
    assert "rebar3 as prod compile" in steps[1].command
    assert steps[2].command == (
        "rm -rf _build/prod/rel/counter_erl && REBAR_COLOR=none rebar3 as prod release"
    )
    assert build_tool("rebar3").release_root("counter_erl", build_config()) == (
        "_build/prod/rel/counter_erl"
    )


def test_a_tool_without_hot_upgrades_is_refused() -> None:
    with pytest.raises(UsageError, match="releases built with distillery cannot be hot-upgraded"):
        hot_upgrades("distillery")
    with pytest.raises(UsageError, match="the custom build tool cannot build hot upgrades"):
        upgrade_builder("custom")


@pytest.mark.parametrize(
    ("printed", "ok"),
    [("ok", True), ("{badrpc, {'EXIT', {undef, []}}}", False), ('{error, "*** eval"}', False)],
)
def test_relx_rpc_fails_on_a_printed_error(tmp_path: Path, printed: str, ok: bool) -> None:
    fake_script(tmp_path, "counter_erl", printed)
    result = sh(tmp_path, Rebar3Node().rpc("counter_erl", "migrations:run()"))
    assert (result.returncode == 0) == ok
    assert (tmp_path / "calls.log").read_text() == "eval migrations:run().\n"
