"""What deliver prints: secrets are masked in every line, whichever way they got there."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import pytest

from deliver.output import Output, strip_controls
from deliver.sandbox import Sandbox
from deliver.shell import Secret
from tests.commands.test_deploy import on_host
from tests.conftest import edit_config, run_cli


def test_every_kind_of_line_masks_secrets() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stdout, stderr, verbose=True, color=False)
    out.secrets = [Secret("hunter2"), Secret("[b]x")]
    out.step("step hunter2")
    out.info("info hunter2")
    out.detail("detail hunter2")
    out.host_status("web1", True, "status hunter2 [b]x")
    out.warning("warning hunter2")
    out.error("error hunter2", "hint hunter2")
    out.remote_output("web1", "output hunter2")
    out.remote_command("web1", "command hunter2")
    out.table(("A", "B"), [("hunter2", "[b]x")])
    printed = stdout.getvalue() + stderr.getvalue()
    assert "hunter2" not in printed and "[b]x" not in printed
    assert printed.count("****") == 12


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain\ttabbed", "plain\ttabbed"),
        ("\x1b[31mred\x1b[0m \x1b[1;2;38;5;196mbold", "red bold"),  # SGR
        ("\x1b[2J\x1b[Hcleared", "cleared"),  # clear screen, cursor home
        ("\x1b[?1049h\x1b[?25l", ""),  # private modes: alternate screen, hidden cursor
        ("\x1b]0;window title\x07after", "after"),  # OSC ended by BEL
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST
        ("\x1b]52;c;cGF3bmVk", ""),  # OSC 52 (set clipboard) never ended: up to the line's end
        ("\x1bP+q544e\x1b\\x", "x"),  # DCS
        ("\x1b_apc\x1b\\ \x1b^pm\x1b\\ \x1bXsos\x1b\\.", "  ."),
        ("\x1b7saved\x1b8 \x1bc \x1b(0 \x1b#8", "saved   "),  # other escapes
        ("\x9b31mc1\x9d0;t\x9c \x85\x90x\x9c", "c1 "),  # 8-bit C1 forms
        ("ok\rFAIL", "okFAIL"),  # a carriage return cannot rewrite what was printed
        ("line\r\nnext\x08\x07\x00\x7f\x0b\x0c", "line\nnext"),
        ("abc\u202edcba\u202c \u2067x\u2069", "abcdcba x"),  # bidi overrides, isolates
        ("trailing escape \x1b", "trailing escape "),
        ("ünïcode ✓ [b]kept[/b]", "ünïcode ✓ [b]kept[/b]"),
    ],
)
def test_terminal_controls_are_stripped_from_every_line(text: str, shown: str) -> None:
    assert strip_controls(text) == shown
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stdout, stderr, verbose=True, color=False)
    out.info(text)
    out.error(text, hint=text)
    assert stdout.getvalue() == shown + "\n"
    assert stderr.getvalue() == f"error: {shown}\nhint: {shown}\n"


def test_one_line_fields_and_tables_lose_newlines_and_line_up_on_what_is_shown() -> None:
    stdout = io.StringIO()
    out = Output(stdout, io.StringIO(), verbose=True, color=False)
    out.secrets = [Secret("hunter2")]
    out.remote_output("web\n1\x1b[31m", "a\x1b[2Kb")
    out.host_status("web1\x1b]0;t\x07", True, "up\nthen")
    out.table(("VERSION", "BRANCH"), [("0.1.0\x1b[2J", "hunter2"), ("0.2.0", "a\nb")])
    assert stdout.getvalue().splitlines() == [
        "web 1 | ab",
        "  ok   web1: up",
        "then",
        "VERSION  BRANCH",
        "0.1.0    ****  ",
        "0.2.0    a b   ",
    ]


def test_a_secret_split_by_control_sequences_is_still_masked() -> None:
    stdout = io.StringIO()
    out = Output(stdout, io.StringIO(), verbose=True, color=False)
    out.secrets = [Secret("hunter2"), Secret("x\x1by")]
    out.remote_output("web1", "token hun\x1b[0mter2, x\x1by")
    assert stdout.getvalue() == "web1 | token ****, ****\n"


def test_a_traceback_is_masked_and_cleaned_line_by_line() -> None:
    stderr = io.StringIO()
    out = Output(io.StringIO(), stderr, color=False)
    out.secrets = [Secret("it's")]
    out.traceback('Traceback (most recent call last):\n  x\nKeyError: "it\'s\x1b[2J"\n')
    assert stderr.getvalue() == 'Traceback (most recent call last):\n  x\nKeyError: "****"\n'


@pytest.mark.slow
def test_a_secret_from_the_environment_never_appears_in_any_output(
    sandbox: Sandbox, deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-" + secrets.token_hex(8)
    monkeypatch.setenv("HELLO_API_TOKEN", secret)

    def use_the_secret_everywhere(data: dict[str, Any]) -> None:
        data["environments"]["production"]["env"] = {"API_TOKEN": "${HELLO_API_TOKEN}"}
        # curl does not send the fragment: the check passes, and its command holds the secret
        data["health_check"] = {"url": "http://127.0.0.1:{PORT}/#{API_TOKEN}"}
        data["migrations"] = {
            "status": 'IO.puts(System.fetch_env!("API_TOKEN"))',
            "up": 'raise "bad token: " <> System.fetch_env!("API_TOKEN")',
        }

    edit_config(deployment, use_the_secret_everywhere)
    flags = ("--config", deployment, "--debug", "--verbose")
    deployed = run_cli(*flags, "deploy", "release", "production", "--start-deploy", "--host=web1")
    status = run_cli(*flags, "show", "migrations", "production")
    failed = run_cli(*flags, "migrate", "production")
    checked = run_cli(*flags, "check", "config")

    assert deployed.exit_code == 0, deployed.output
    assert "curl -s -o /dev/null" in deployed.stderr  # --debug showed the health check command
    assert status.exit_code == 0 and "web1 | ****" in status.stdout
    assert failed.exit_code == 1 and "bad token: ****" in failed.stderr
    assert "Traceback" in failed.stderr  # --debug
    assert checked.exit_code == 0
    for result in (deployed, status, failed, checked):
        assert secret not in result.output
    # it did reach the host, in the 0600 env file
    deliver_to = deployment.read_text().split("deliver_to: ")[1].split()[0]
    assert f"export API_TOKEN={secret}" in on_host(sandbox, "web1", f"cat {deliver_to}/deliver.env")
