from __future__ import annotations

import json
import shlex
import subprocess
import traceback
import urllib.parse

import pytest

from deliver.shell import (
    ScriptEnv,
    Secret,
    curl_config_value,
    elixir_string,
    env_file_text,
    exports,
    mask,
    parse_key_values,
    quote,
    quote_path,
    script_env,
)


@pytest.mark.parametrize(
    ("path", "quoted"),
    [
        ("/srv/app", "/srv/app"),
        ("~/app", '"$HOME"/app'),
        ("~", '"$HOME"'),
        ("~/my app", "\"$HOME\"/'my app'"),
        ("/srv/it's", "'/srv/it'\"'\"'s'"),
        ("~user/x", "'~user/x'"),
    ],
)
def test_quote_path_expands_only_the_home_prefix(path: str, quoted: str) -> None:
    assert quote_path(path) == quoted


def test_secret_is_masked_in_text() -> None:
    secret = Secret("s3cr3t value")
    assert str(secret) == "****" and "s3cr3t" not in repr(secret)
    assert mask("export X='s3cr3t value'", [secret]) == "export X=****"
    assert mask("echo s3cr3t value", [secret]) == "echo ****"


def test_mask_covers_quoted_forms_and_the_lines_of_secret_files() -> None:
    quoted = Secret("it's")
    assert mask("export X='it'\"'\"'s'", [quoted]) == "export X=****"
    file = Secret('import Config\nconfig :app, key: "k3y-123456"\nend')
    assert mask(env_file_text({"F": file}), [file]) == "export F=****\n"
    assert mask('  config :app, key: "k3y-123456"', [file]) == "  ****"
    assert mask("end of build", [file]) == "end of build"  # short lines would mask everything


SECRET = 'it\'s "s3cr3t" $x\\y'


def _traceback_of(error: Exception) -> str:
    try:
        raise error
    except Exception:
        return traceback.format_exc()


@pytest.mark.parametrize(
    "text",
    [
        SECRET,
        shlex.quote(SECRET),
        # inside a larger quoted word: the health check script's `url='...'` under --debug
        "url=" + shlex.quote(f"http://127.0.0.1:4000/health?token={SECRET}&x=1"),
        'echo "token: ' + SECRET.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$"),
        repr({"token": SECRET}),  # a repr, as in a traceback's exception message
        repr(f"both quotes ' \" {SECRET}"),
        json.dumps({"token": SECRET}),
        "http://h/?token=" + urllib.parse.quote(SECRET, safe=""),
        "http://h/" + urllib.parse.quote(SECRET),
        "http://h/?token=" + urllib.parse.quote_plus(SECRET),
        "url = " + curl_config_value(f"http://h/?t={SECRET}"),
        _traceback_of(RuntimeError(f"cannot use {SECRET!r}")),
        _traceback_of(KeyError(SECRET)),
    ],
)
def test_mask_covers_every_form_of_a_secret(text: str) -> None:
    masked = mask(text, [Secret(SECRET)])
    assert "s3cr3t" not in masked and "****" in masked


def test_exports_and_env_file() -> None:
    env = {"PORT": "4000", "TOKEN": Secret("a b")}
    assert exports({"PORT": "4000", "NAME": "a b"}) == "export PORT=4000 NAME='a b'"
    assert exports({}) == ""
    assert env_file_text(env) == "export PORT=4000\nexport TOKEN='a b'\n"


def test_a_command_must_not_quote_a_secret() -> None:
    # quoting is for command lines, which `ps` shows: a Secret there is a bug, loudly
    with pytest.raises(TypeError):
        quote(Secret("s3cr3t"))  # type: ignore[arg-type]


def test_script_env_keeps_secrets_for_stdin() -> None:
    split = script_env({"PORT": "4000", "TOKEN": Secret("it's"), "KEY": Secret("k")})
    assert split == ScriptEnv(
        "export PORT=4000", 'eval "$(cat)"', b"export TOKEN='it'\"'\"'s'\nexport KEY=k\n"
    )
    assert script_env({"PORT": "4000"}) == ScriptEnv("export PORT=4000", "", None)


@pytest.mark.parametrize(
    ("value", "config"),
    [
        ("http://h/x?t=1", '"http://h/x?t=1"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        # a line break would start a new curl option (`output = ~/.bashrc`): escaped
        ("a\nout\r\tx\v", '"a\\nout\\r\\tx\\v"'),
    ],
)
def test_curl_config_value_escapes_what_curl_unescapes(value: str, config: str) -> None:
    assert curl_config_value(value) == config


def test_parse_key_values_ignores_other_lines() -> None:
    text = "noise\nVERSION=0.1.0\n  SHA256=abc  \nnot a pair\nEMPTY=\n"
    assert parse_key_values(text) == {"VERSION": "0.1.0", "SHA256": "abc", "EMPTY": ""}


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("0.2.0", '"0.2.0"'),
        ('0.2.0"); System.cmd("id', '"0.2.0\\"); System.cmd(\\"id"'),
        ("#{System.cmd(:id)}", '"\\#{System.cmd(:id)}"'),
        ("back\\slash", '"back\\\\slash"'),
    ],
)
def test_elixir_string_is_a_literal_the_code_cannot_escape(value: str, literal: str) -> None:
    assert elixir_string(value) == literal


def test_elixir_string_refuses_control_characters() -> None:
    with pytest.raises(ValueError, match="control character"):
        elixir_string("0.2.0\nIO.puts(:x)")


def test_elixir_reads_each_literal_back_as_the_value_it_was_given() -> None:
    values = ["0.2.0", '0.2.0"); System.cmd("id', "#{System.halt(1)}", "back\\slash", "ünï"]
    code = "; ".join(f"IO.write({elixir_string(v)} <> <<0>>)" for v in values)
    done = subprocess.run(["elixir", "-e", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\0")[:-1] == values


@pytest.mark.parametrize(
    ("secret", "text", "masked"),
    [
        ("1", "deployed 0.2.1 to web1", "deployed 0.2.1 to web1"),
        ("1", "the token is 1 today", "the token is **** today"),
        ("prod", "MIX_ENV=production", "MIX_ENV=production"),
        ("prod", "password=prod", "password=****"),
        ("prod", "export DB='prod'", "export DB='****'"),
        ("s3cr3t", "x-s3cr3t-y", "x-****-y"),  # 6 characters: masked everywhere, as before
    ],
)
def test_a_short_secret_is_masked_only_where_it_stands_alone(
    secret: str, text: str, masked: str
) -> None:
    assert mask(text, [Secret(secret)]) == masked
