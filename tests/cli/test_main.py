"""The command line in-process: help, exit codes, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from deliver import __version__
from deliver.cli import ExitCode, cli
from tests.conftest import run_cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", all_commands(cli), ids=" ".join)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help")
    assert result.exit_code == ExitCode.OK, result.output
    assert "Usage: deliver" in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_unknown_option_is_a_usage_error() -> None:
    result = run_cli("build", "release", "--colour")
    assert result.exit_code == ExitCode.USAGE


def test_malformed_config_is_one_line_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text("app: hello\nenvironments:\n  production:\n    hosts: [42]\n")
    result = run_cli("--config", config, "ping", "production")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == (
        f"error: {config}: environments.production.hosts[0]: "
        'expected "[user@]host[:port]" or an ssh_config alias, got 42\n'
    )
    assert "Traceback" not in result.output


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("--config", tmp_path / "nope", "show", "releases")
    assert result.exit_code == ExitCode.USAGE
    assert "file not found" in result.stderr


def test_deploy_needs_an_environment(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    hosts: [web1]\n    deliver_to: /srv\n"
    )
    result = run_cli("--config", config, "deploy", "release")
    assert result.exit_code == ExitCode.USAGE
    assert "name the environment" in result.stderr and "configured: production" in result.stderr


def test_show_releases_of_an_empty_store(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text("app: hello\n")
    result = run_cli("--config", config, "show", "releases")
    assert result.exit_code == 0
    assert "no releases of hello" in result.stdout


def test_global_flags_are_accepted_after_the_command(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text("app: hello\n")
    result = run_cli("show", "releases", "--config", config, "--verbose")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("deploy", "release", "production", "--batch=1"),
            "--batch and --rollback-on-failure need --start-deploy",
        ),
        (("restart", "production", "--batch=none"), "--batch: expected a number of hosts"),
        (("migrate", "production", "down"), "migrate down needs --version"),
        (("migrate", "production", "dwon"), "migrate: unknown direction dwon (up or down)"),
        (("migrate", "to", "production", "dwon"), "migrate: unknown direction dwon"),
        (("update", "production", "--rollback-on-failure"), "need --start-deploy"),
        (("rollback",), "name the environment"),
    ],
)
def test_day_two_refusals_happen_before_any_host_is_touched(
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


def test_a_mistyped_environment_gets_the_one_meant(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n  production: {hosts: [web1], deliver_to: /srv/a}\n"
        "  staging: {hosts: [web1], deliver_to: /srv/b}\n"
    )
    for typed in ("prod", "producton"):
        result = run_cli("--config", config, "ping", typed)
        assert result.exit_code == ExitCode.USAGE
        assert "hint: did you mean production?" in result.stderr


def test_deploy_without_release_or_upgrade_names_both(tmp_path: Path) -> None:
    result = run_cli("--config", tmp_path / "nope", "deploy", "production")
    assert result.exit_code == ExitCode.USAGE
    assert "deploy what? expected release or upgrade, got 'production'" in result.stderr
    assert "deliver deploy release to production, or deliver deploy upgrade to" in result.stderr


def test_a_command_needs_only_the_secrets_of_what_it_sends(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n"
        "  production:\n    deliver_to: /srv/a\n    hosts: [web1]\n"
        "    env: {DATABASE_URL: '${PRODUCTION_DATABASE_URL}'}\n"
        "  staging: {hosts: [web1], deliver_to: /srv/b}\n"
    )
    listed = run_cli("--config", config, "show", "releases")  # the local store only
    assert listed.exit_code == 0, listed.output
    # ping sends no env (the node reads the host's deliver.env): it goes on to the host
    pinged = run_cli("--config", config, "ping", "production")
    assert pinged.exit_code == ExitCode.UNREACHABLE, pinged.output
    assert "PRODUCTION_DATABASE_URL" not in pinged.output
    deployed = run_cli("--config", config, "deploy", "release", "production")
    assert deployed.exit_code == ExitCode.USAGE
    assert "environments.production.env.DATABASE_URL: ${PRODUCTION_DATABASE_URL} is not set" in (
        deployed.stderr
    )


def test_update_takes_the_version_flags_of_build_release(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text("app: hello\nenvironments: {production: {hosts: [a], deliver_to: /x}}\n")
    bad = run_cli("--config", config, "update", "production", "--set-version", "1.0 beta")
    assert bad.exit_code == ExitCode.USAGE
    assert "--set-version: '1.0 beta' is not a usable version" in bad.stderr
    both = run_cli("--config", config, "update", "production", "--clean", "--skip-git-clean")
    assert "--clean and --skip-git-clean contradict each other" in both.stderr
    helped = run_cli("update", "--help").stdout
    for flag in ("--auto-version", "--increment-version", "--set-version", "--force"):
        assert flag in helped


def test_a_crash_prints_a_masked_clean_traceback_under_debug_and_exits_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-it's"
    monkeypatch.setenv("HELLO_TOKEN", secret)
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    hosts: [web1]\n    deliver_to: /srv\n"
        "    env: {TOKEN: '${HELLO_TOKEN}'}\n"
    )

    def crash(*args: object) -> None:
        # a message quoting the secret (as a repr does) and a manifest's escape sequence
        raise RuntimeError(f"boom {secret!r} \x1b]0;pwned\x07{secret}\x1b[2J")

    monkeypatch.setattr("deliver.commands.store.show_releases", crash)
    debug = run_cli("--config", config, "--debug", "show", "releases")
    assert debug.exit_code == ExitCode.BUG
    assert "Traceback (most recent call last):" in debug.stderr
    assert 'RuntimeError: boom "****" ****\n' in debug.stderr
    assert debug.stderr.endswith(
        "error: unexpected error: this is a bug in deliver\n"
        "hint: please report it with the traceback above\n"
    )
    assert "s3cr3t" not in debug.output and "\x1b" not in debug.output

    plain = run_cli("--config", config, "show", "releases")
    assert plain.exit_code == ExitCode.BUG
    assert "Traceback" not in plain.output and "s3cr3t" not in plain.output
    assert "run the command again with --debug" in plain.stderr


def test_a_short_secret_is_warned_about_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n  production:\n    deliver_to: /srv/a\n    hosts: [web1]\n"
        "    env: {PIN: '${PIN}'}\n"
    )
    monkeypatch.setenv("PIN", "1")
    result = run_cli("--config", config, "show", "releases")
    assert result.stderr.count("a secret shorter than six characters is masked only") == 1
    assert "no releases of hello" in result.stdout
