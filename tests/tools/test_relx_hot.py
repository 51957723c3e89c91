"""The Erlang code a rebar3 node evaluates for a hot upgrade (tools/_relx_hot.py): it parses,
and a hostile version or release name stays a string literal. Parsed by a real `erl`."""

from __future__ import annotations

import subprocess

import pytest

from deliver.tools import _relx_hot as relx_hot
from deliver.tools.rebar3 import Rebar3Node

#: Prints the first two expressions' right-hand sides as terms: the literal values bound.
PARSE = """{ok, B} = file:read_file(hd(init:get_plain_arguments())),
{ok, T, _} = erl_scan:string(unicode:characters_to_list(B) ++ "."),
{ok, [{match, _, _, V}, {match, _, _, R} | _]} = erl_parse:parse_exprs(T),
io:format("~0p~n~0p~n", [erl_parse:normalise(V), erl_parse:normalise(R)]),
halt()."""


def bound_literals(code: str, tmp_path: object) -> list[str]:
    path = f"{tmp_path}/code.erl"
    with open(path, "w", encoding="utf-8") as file:
        file.write(code)
    done = subprocess.run(
        ["erl", "-noshell", "-eval", PARSE, "-extra", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout.splitlines()


@pytest.mark.parametrize("code_of", [relx_hot.check_code, relx_hot.install_code])
def test_the_code_parses_with_hostile_values_as_literals(code_of: object, tmp_path: object) -> None:
    version = '0.2.0", os:cmd("touch /tmp/pwned"), "@REL@'
    code = code_of("counter_erl", version)  # type: ignore[operator]
    assert bound_literals(code, tmp_path) == [
        '"0.2.0\\", os:cmd(\\"touch /tmp/pwned\\"), \\"@REL@"',
        '"counter_erl"',
    ]


def test_rebar3_gives_the_node_code_for_its_upgrades() -> None:
    node = Rebar3Node()
    check, install = node.check_code("app", "1.0.0"), node.install_code("app", "1.0.0")
    assert "release_handler:check_install_release(Vsn)" in check
    assert "release_handler:install_release(" not in check and "make_permanent" not in check
    assert "INSTALLED=~s" in install and "release_handler:make_permanent(Vsn)" in install
    # what relx's `upgrade` does after make_permanent: the start script of the new version
    assert 'Rel ++ "-" ++ Vsn' in install
    with pytest.raises(ValueError):
        node.install_code("app", "1.0.0\n")
