"""Every config value is type-checked: a number or boolean where a path, URL, name or command
is expected (and text where a number is) is refused, naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config.load import load_config
from deliver.errors import ConfigError
from tests.conftest import run_cli

BASE = {
    "app": "hello",
    "build": {"host": "localhost", "at": "~/build/hello"},
    "environments": {"production": {"deliver_to": "/srv/hello", "hosts": ["web1"]}},
}


def _yaml(data: object, indent: int = 0) -> str:
    """A tiny YAML writer that keeps scalars exactly as given (42 stays a number)."""
    pad = " " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, dict | list):
                lines.append(f"{pad}{key}:\n{_yaml(value, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {value}")
        return "\n".join(lines)
    assert isinstance(data, list)
    return "\n".join(f"{pad}- {item}" for item in data)


def _with(path: tuple[str, ...], value: object) -> dict[str, object]:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    node: dict[str, object] = data
    for part in path[:-1]:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "raw", "expected"),
    [
        (("build", "at"), "42", "build.at: expected a non-empty string, got 42"),
        (("environments", "production", "deliver_to"), "7", "deliver_to: expected a non-empty"),
        (("release_store",), "2024", "release_store: expected a non-empty string, got 2024"),
        (("health_check", "url"), "8080", "health_check.url: expected a non-empty string"),
        (("ssh", "known_hosts"), "1.5", "ssh.known_hosts: expected a non-empty string, got 1.5"),
        (("ssh", "identity"), "true", "ssh.identity: expected a non-empty string, got a boolean"),
        (("link", "vm_args"), "3", "link.vm_args: expected a non-empty string, got 3"),
        (("build", "tool"), "1", "build.tool: expected a non-empty string, got 1"),
        (
            ("hooks", "pre_compile"),
            "5",
            "hooks.pre_compile: expected a command or a mapping with script, run or task, got 5",
        ),
        (("migrations", "up"), "0", "migrations.up: expected a non-empty string, got 0"),
        (("start_timeout",), "'30'", "start_timeout: expected a positive number, got '30'"),
        (("ssh", "connect_timeout"), "yes", "ssh.connect_timeout: expected a positive number"),
        (("keep_releases",), "'5'", "keep_releases: expected a whole number of at least 1"),
        (("health_check", "timeout"), ".nan", "health_check.timeout: expected a positive number"),
        (
            ("environments", "production", "env"),
            "{DEBUG: true}",
            'env.DEBUG: expected a string value (quote it: "true"), got a boolean',
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(
    tmp_path: Path, path: tuple[str, ...], raw: str, expected: str
) -> None:
    config = tmp_path / ".deliver"
    config.write_text(_yaml(_with(path, raw)) + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(config, environ={})
    assert str(error.value).startswith(f"{config}: ")
    assert expected in str(error.value)
    result = run_cli("--config", config, "check", "config")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_numbers_stay_welcome_where_text_is_natural(tmp_path: Path) -> None:
    """A branch named 2024 and `PORT: 4000` are text in YAML's clothes; timeouts from
    DELIVER_* variables arrive as text and are numbers."""
    data = _with(("build", "branch"), "2024")
    data["environments"] = {
        "production": {"deliver_to": "/srv/hello", "hosts": ["web1"], "env": {"PORT": "4000"}}
    }
    config = tmp_path / ".deliver"
    config.write_text(_yaml(data) + "\n")
    loaded = load_config(config, environ={"DELIVER_START_TIMEOUT": "12"})
    assert loaded.require_build().branch == "2024"
    assert loaded.environments["production"].env["PORT"] == "4000"
    assert loaded.start_timeout == 12.0
    with pytest.raises(ConfigError, match=r"\$DELIVER_START_TIMEOUT: start_timeout: expected"):
        load_config(config, environ={"DELIVER_START_TIMEOUT": "soon"})
