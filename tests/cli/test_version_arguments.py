"""Arguments named the way the person at the terminal wrote them: a version given to any
command is refused before anything is touched, in one line naming the flag (or VERSION)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.cli import ExitCode
from deliver.release import VERSION_RULE
from tests.conftest import run_cli

#: Every command that takes a version, and how the refusal names it.
COMMANDS = [
    (("deploy", "release", "production", "--version={}"), "--version={}"),
    (("deploy", "upgrade", "production", "--version={}"), "--version={}"),
    (("downgrade", "production", "--version={}"), "--version={}"),
    (("rollback", "production", "--version={}"), "--version={}"),
    (("build", "upgrade", "--with={}"), "--with={}"),
    (("show", "relup", "{}"), "VERSION {}"),
    (("upload", "release", "{}"), "VERSION {}"),
    (("download", "release", "{}"), "VERSION {}"),
]
COMMAND_IDS = [" ".join(words[:2]) for words, _ in COMMANDS]
#: (what was typed, how the error shows it)
BAD_VERSIONS = [
    ("0.1.2$(touch PWNED)", "0.1.2$(touch PWNED)"),
    ("0.1.2`id`", "0.1.2`id`"),
    ("0.1.2;id", "0.1.2;id"),
    ("../../victim-dir", "../../victim-dir"),
    ("0.1.0/..", "0.1.0/.."),
    ("..", ".."),
    ("", "''"),
    ("0.1.0\nid", "'0.1.0\\nid'"),
    ("0.1.0\x1b[2J", "'0.1.0\\x1b[2J'"),
    ("1" * 129, "'" + "1" * 56 + "..."),
]


def config_without_reachable_hosts(tmp_path: Path) -> Path:
    """A .deliver whose hosts and store refuse connections: had the command gone as far as
    touching them, it would have exited 3 (unreachable), not 2."""
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nbuild: {host: 127.0.0.1:1}\n"
        "release_store: ssh://127.0.0.1:1/releases\n"
        "environments:\n  production:\n    deliver_to: ~/app\n    hosts: [127.0.0.1:1]\n"
    )
    return config


@pytest.mark.parametrize(("typed", "shown_as"), BAD_VERSIONS)
@pytest.mark.parametrize(("words", "named"), COMMANDS, ids=COMMAND_IDS)
def test_a_bad_version_is_refused_before_anything_is_touched(
    tmp_path: Path, words: tuple[str, ...], named: str, typed: str, shown_as: str
) -> None:
    config = config_without_reachable_hosts(tmp_path)
    args = [word.format(typed) for word in words]
    if not words[-1].startswith("--"):
        args.insert(-1, "--")  # a positional VERSION could start like an option
    result = run_cli("--config", config, *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    subject = named.format(shown_as)
    assert result.stderr == f"error: {subject}: not a version ({VERSION_RULE})\n"
    assert result.stdout == ""


@pytest.mark.parametrize(("words", "named"), COMMANDS, ids=COMMAND_IDS)
def test_a_leading_v_is_refused_with_a_hint(
    tmp_path: Path, words: tuple[str, ...], named: str
) -> None:
    config = config_without_reachable_hosts(tmp_path)
    result = run_cli("--config", config, *(word.format("v0.2.0") for word in words))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == (
        f"error: {named.format('v0.2.0')}: not a version ({VERSION_RULE})\n"
        "hint: did you mean 0.2.0?\n"
    )


def test_a_good_version_goes_on_to_the_store(tmp_path: Path) -> None:
    config = config_without_reachable_hosts(tmp_path)
    result = run_cli("--config", config, "deploy", "release", "production", "--version=0.1.0")
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "cannot connect to 127.0.0.1:1" in result.stderr
