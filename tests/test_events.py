"""--json: every line a JSON event, the last one the exit status; secrets masked."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from deliver.events import JsonOutput
from deliver.release import Release, now
from deliver.shell import Secret
from tests.conftest import run_cli


def events(stdout: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stdout.splitlines()]
    assert all({"event", "time", "elapsed"} <= set(event) for event in parsed)
    return parsed


def test_a_listing_is_a_table_event_and_done_says_the_exit(tmp_path: Path) -> None:
    store = tmp_path / ".deliver-releases"
    store.mkdir()
    release = Release("hello", "0.1.0", "c" * 40, "main", "mix", now(), "d" * 64, 5_000_000)
    (store / release.manifest_name).write_text(release.to_json())
    (store / release.archive_name).write_bytes(b"")
    config = tmp_path / ".deliver"
    config.write_text("app: hello\nenvironments: {}\n")
    result = run_cli("--config", config, "show", "releases", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    table, done = events(result.stdout)
    assert table["event"] == "table" and table["headers"][0] == "VERSION"
    assert table["rows"] == [["0.1.0", "c" * 10, "main", release.built_at, "5.0 MB"]]
    assert done["event"] == "done" and done["exit"] == 0


def test_a_mistake_is_an_error_event_with_its_hint(tmp_path: Path) -> None:
    config = tmp_path / ".deliver"
    config.write_text(
        "app: hello\nenvironments:\n  production: {hosts: [web1], deliver_to: /srv/a}\n"
    )
    answers = {}
    for argv in (("ping", "prod"), ("deploy", "production"), ("bogus",)):
        result = run_cli("--json", "--config", config, *argv)
        *_, error, done = events(result.stdout)
        assert error["event"] == "error" and done == {**done, "event": "done", "exit": 2}
        answers[argv[0]] = error
    assert answers["ping"]["hint"] == "did you mean production?"
    assert answers["deploy"]["message"].startswith("deploy what? expected release or upgrade")
    assert answers["bogus"]["message"].startswith("No such command 'bogus'.")


def test_event_fields_are_masked_and_stripped_of_terminal_controls() -> None:
    stream = io.StringIO()
    out = JsonOutput(stream, verbose=True)
    out.secrets = [Secret("hunter2")]
    out.step("a\x1b]0;title\x07b hun\x1b[0mter2")
    out.remote_output("web1", "\x1b[2Jline\r")
    out.table(["A"], [["x\x1b[31my\nz"]])
    step, output, table = events(stream.getvalue())
    assert step["text"] == "ab ****"
    assert output["line"] == "line"
    assert table["rows"] == [["xy\nz"]]


def test_a_traceback_under_debug_is_an_event_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELLO_TOKEN", "s3cr3t")
    config = tmp_path / ".deliver"
    config.write_text("app: hello\nbuild: {host: localhost, env: {T: '${HELLO_TOKEN}'}}\n")

    def crash(*args: object) -> None:
        raise RuntimeError("boom s3cr3t")

    monkeypatch.setattr("deliver.commands.store.show_releases", crash)
    result = run_cli("--json", "--debug", "--config", config, "show", "releases")
    assert result.exit_code == 70 and result.stderr == "" and "s3cr3t" not in result.stdout
    *_, traceback, error, done = events(result.stdout)
    assert traceback["event"] == "traceback" and "RuntimeError: boom ****" in traceback["text"]
    assert error["message"] == "unexpected error: this is a bug in deliver"
    assert done["exit"] == 70


@pytest.mark.slow
def test_a_deploy_reports_each_host_as_an_event(deployment: Path) -> None:
    deployed = run_cli("--json", "--config", deployment, "deploy", "release", "production")
    assert deployed.exit_code == 0, deployed.output
    reported = events(deployed.stdout)
    hosts = {
        (e["host"], e["status"], e["version"], e["text"]) for e in reported if e["event"] == "host"
    }
    assert hosts == {("web1", "ok", "0.1.0", "0.1.0 ready"), ("web2", "ok", "0.1.0", "0.1.0 ready")}
    assert reported[-1]["exit"] == 0
    ping = run_cli("--json", "--config", deployment, "ping", "production")
    assert ping.exit_code == 1
    *_, error, done = events(ping.stdout)
    assert error["message"].startswith("pinging failed on 2 host(s): web1, web2")
    assert done["exit"] == 1
