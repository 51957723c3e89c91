"""The one-off scripts (exec, rpc, eval, the console's command line), run for real with
/bin/sh on this machine through the local transport: words stay words, the env file is
loaded, and each tool's expression is made to print its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config import HostSpec
from deliver.errors import InvalidArgument
from deliver.host.layout import ENV_FILE, HostState
from deliver.host.oneoff import check_expression, console_command, execute, printing
from deliver.transport.local import LocalRemote


def deployed(tmp_path: Path, tool: str = "mix") -> HostState:
    root = tmp_path / "deliver to"  # a space: every path is quoted
    (root / "releases" / "0.1.0").mkdir(parents=True)
    (root / "current").symlink_to("releases/0.1.0")
    (root / ENV_FILE).write_text("GREETING='hello there'\n")
    return HostState("localhost", str(root), "0.1.0", None, tool)


def test_exec_runs_the_words_as_given_in_current_with_the_env(tmp_path: Path) -> None:
    state = deployed(tmp_path)
    pwned = tmp_path / "pwned"
    words = ["printf", "[%s]", "a b", f"$(touch {pwned})", "'", ";", "`id`"]
    result = execute(LocalRemote(HostSpec.parse("localhost")), state, words)
    assert result.ok and result.stdout == f"[a b][$(touch {pwned})]['][;][`id`]"
    assert not pwned.exists()
    where = execute(
        LocalRemote(HostSpec.parse("localhost")), state, ["sh", "-c", 'pwd -P; echo "$GREETING"']
    )
    assert where.stdout.splitlines() == [
        str(Path(state.root) / "releases" / "0.1.0"),
        "hello there",
    ]


@pytest.mark.parametrize("argv", [[], [""], ["echo", "a\0b"]])
def test_exec_refuses_an_empty_or_impossible_command(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(InvalidArgument):
        execute(LocalRemote(HostSpec.parse("localhost")), deployed(tmp_path), argv)


@pytest.mark.parametrize("expression", ["", "  \n", "1\0"])
def test_an_expression_must_hold_something_passable(expression: str) -> None:
    with pytest.raises(InvalidArgument):
        check_expression(expression)


@pytest.mark.parametrize(
    ("tool", "inside_node", "shown"),
    [
        ("mix", True, "IO.inspect((\n1 + 1 # two\n))"),
        ("mix", False, "IO.inspect((\n1 + 1 # two\n))"),
        ("rebar3", True, "1 + 1 # two"),  # relx's rpc prints the value itself
        ("rebar3", False, 'io:format("~p~n", [begin 1 + 1 # two end]).'),
        ("distillery", True, "1 + 1 # two"),
    ],
)
def test_each_tool_prints_the_value(tool: str, inside_node: bool, shown: str) -> None:
    assert printing(tool, "1 + 1 # two", inside_node) == shown


def test_the_console_replaces_the_login_shell_with_the_tools_remote_shell(tmp_path: Path) -> None:
    assert console_command(deployed(tmp_path), "hello").endswith("exec bin/hello remote")
    relx = console_command(deployed(tmp_path / "relx", "rebar3"), "counter")
    assert relx.endswith("exec bin/counter remote_console")
