"""Turning the rollout flags into the library's values, and refusing bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.cli import ExitCode
from deliver.cli.options import parse_batch, rollout_from
from deliver.commands.schedule import Rollout
from deliver.config import BatchSize
from deliver.errors import UsageError
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("text", "batch"),
    [("1", BatchSize(1)), (" 3 ", BatchSize(3)), ("25%", BatchSize(25, True)), ("100%", None)],
)
def test_batch_sizes(text: str, batch: BatchSize | None) -> None:
    assert parse_batch(text) == (batch or BatchSize(100, percent=True))


@pytest.mark.parametrize("text", ["0", "0%", "101%", "-1", "half", "", "2.5", "auto"])
def test_bad_batch_sizes_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--batch: expected a number of hosts or a percentage"):
        parse_batch(text)


@pytest.mark.parametrize(
    ("batch", "rollback", "all_at_once", "expected"),
    [
        (None, None, False, None),  # nothing given: the environment's rollout: decides
        ("2", None, False, Rollout(BatchSize(2))),
        (None, False, False, Rollout(rollback_on_failure=False)),
        (None, True, False, Rollout(rollback_on_failure=True)),
        (None, None, True, Rollout(all_at_once=True)),
        ("50%", False, False, Rollout(BatchSize(50, True), False)),
    ],
)
def test_rollout_flags(
    batch: str | None, rollback: bool | None, all_at_once: bool, expected: Rollout | None
) -> None:
    assert rollout_from(batch, rollback, all_at_once) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("restart", "production", "--batch=1", "--all-at-once"), "only one of --batch and"),
        (("rollback", "production", "--all-at-once", "--batch=2"), "only one of --batch and"),
        (
            ("deploy", "release", "production", "--start-deploy", "--all-at-once", "--batch=1"),
            "give only one of --batch and --all-at-once",
        ),
        (("deploy", "release", "production", "--all-at-once"), "--all-at-once needs --start"),
        (("update", "production", "--no-rollback-on-failure"), "need --start-deploy"),
        (("rollback", "production", "--batch=0"), "--batch: expected a number of hosts"),
    ],
)
def test_flag_refusals_are_usage_errors_before_any_host_is_touched(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    config = tmp_path / ".deliver"
    # an unreachable host: getting past the refusal would fail differently (exit 3)
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    hosts: ['127.0.0.1:1']\n"
        "    deliver_to: /srv\n"
    )
    result = run_cli("--config", config, *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr


def test_every_restarting_command_has_the_rollout_flags() -> None:
    for command in (("restart",), ("rollback",), ("deploy", "release"), ("update",)):
        shown = run_cli(*command, "--help").stdout
        for flag in (
            "--batch",
            "--all-at-once",
            "--rollback-on-failure / --no-rollback-on-failure",
        ):
            assert flag in shown, (command, flag)
