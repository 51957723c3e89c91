"""The grammars of values that reach a path or a command (config/values.py): mix_env, build.at,
deliver_to, link paths, clean_paths. Each refusal names the file (or variable, or the command
line), the key path and what is allowed; through the CLI it is one line and exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config import Overrides
from deliver.config.load import load_config
from deliver.errors import ConfigError
from tests.conftest import run_cli

VALID = """\
app: hello
build:
  host: localhost
  at: ~/build/hello
environments:
  production:
    deliver_to: /srv/hello
    hosts: [web1.example.com]
"""

MIX_ENV = (
    "expected a MIX_ENV name (lowercase letters, digits and _, starting with a letter, like "
    "prod), got {value!r}"
)
REMOTE_DIR = (
    "expected an absolute path, ~/path or a path relative to the login home, without .. "
    "(and ~ only as ~/), got {value!r}"
)
CONTROL = "control characters are not allowed, got {value!r}"
INSIDE = "expected a path inside {where} (relative, without ., .. or empty parts), got {value!r}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".deliver"
    path.write_text(text)
    return path


def with_build_key(key: str, value: str) -> str:
    return VALID.replace("  at: ~/build/hello\n", f"  at: ~/build/hello\n  {key}: {value}\n")


@pytest.mark.parametrize(
    "value",
    ["$(id)", "../..", "../../../..", "prod; rm -rf /", "Prod", "prod-eu", "`id`", "_prod", "1a"],
)
def test_mix_env_is_a_plain_name_from_the_file_the_environment_and_the_command_line(
    tmp_path: Path, value: str
) -> None:
    problem = MIX_ENV.format(value=value)
    path = write(tmp_path, with_build_key("mix_env", repr(value)))
    with pytest.raises(ConfigError) as from_file:
        load_config(path, environ={})
    assert str(from_file.value) == f"{path}: build.mix_env: {problem}"

    path = write(tmp_path, VALID)
    with pytest.raises(ConfigError) as from_environment:
        load_config(path, environ={"DELIVER_MIX_ENV": value})
    assert str(from_environment.value) == f"$DELIVER_MIX_ENV: build.mix_env: {problem}"
    with pytest.raises(ConfigError) as from_flag:
        load_config(path, environ={}, overrides=Overrides(mix_env=value))
    assert str(from_flag.value) == f"command line: build.mix_env: {problem}"


@pytest.mark.parametrize("value", ["prod", "dev", "staging_eu", "test2"])
def test_usual_mix_envs_are_accepted(tmp_path: Path, value: str) -> None:
    config = load_config(write(tmp_path, with_build_key("mix_env", value)), environ={})
    assert config.build is not None and config.build.mix_env == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"/srv/app\\nrm -rf ~"', CONTROL.format(value="/srv/app\nrm -rf ~")),
        ('"/srv/\\u001b[2Japp"', CONTROL.format(value="/srv/\x1b[2Japp")),
        ('"/srv/app\\tx"', CONTROL.format(value="/srv/app\tx")),
        ("/srv/../etc", REMOTE_DIR.format(value="/srv/../etc")),
        ("~/../other-user", REMOTE_DIR.format(value="~/../other-user")),
        ("..", REMOTE_DIR.format(value="..")),
        ("app/..", REMOTE_DIR.format(value="app/..")),
        ("~root/app", REMOTE_DIR.format(value="~root/app")),
        ('""', "expected a non-empty string, got ''"),
        ('"  "', "expected a non-empty string, got '  '"),
    ],
)
def test_deliver_to_and_build_at_are_plain_directories(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = write(tmp_path, VALID.replace("deliver_to: /srv/hello", f"deliver_to: {value}"))
    with pytest.raises(ConfigError) as deliver_to:
        load_config(path, environ={})
    assert str(deliver_to.value) == f"{path}: environments.production.deliver_to: {problem}"

    path = write(tmp_path, VALID.replace("at: ~/build/hello", f"at: {value}"))
    with pytest.raises(ConfigError) as build_at:
        load_config(path, environ={})
    assert str(build_at.value) == f"{path}: build.at: {problem}"


@pytest.mark.parametrize("value", ["/srv/hello", "~/hello", '"~"', "apps/hello", "/srv/my app"])
def test_usual_directories_are_accepted(tmp_path: Path, value: str) -> None:
    text = VALID.replace("deliver_to: /srv/hello", f"deliver_to: {value}")
    config = load_config(write(tmp_path, text.replace("at: ~/build/hello", f"at: {value}")))
    expected = value.strip('"')
    assert config.environment("production").deliver_to == expected
    assert config.build is not None and config.build.at == expected


def test_build_at_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={"DELIVER_BUILD_AT": "~/../../tmp"})
    assert str(refused.value) == (
        f"$DELIVER_BUILD_AT: build.at: {REMOTE_DIR.format(value='~/../../tmp')}"
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("linked_dirs", "../etc", INSIDE.format(where="the release", value="../etc")),
        ("linked_dirs", "uploads/../..", INSIDE.format(where="the release", value="uploads/../..")),
        ("linked_dirs", ".", INSIDE.format(where="the release", value=".")),
        ("linked_dirs", "./uploads", INSIDE.format(where="the release", value="./uploads")),
        ("linked_dirs", "a//b", INSIDE.format(where="the release", value="a//b")),
        ("linked_dirs", "/", INSIDE.format(where="the release", value="/")),
        ("linked_files", "/etc/passwd", INSIDE.format(where="the release", value="/etc/passwd")),
        (
            "linked_files",
            "~/.ssh/authorized_keys",
            INSIDE.format(where="the release", value="~/.ssh/authorized_keys"),
        ),
        ("linked_files", "etc/app\nconf", CONTROL.format(value="etc/app\nconf")),
    ],
)
def test_link_paths_stay_inside_the_release(
    tmp_path: Path, key: str, value: str, problem: str
) -> None:
    path = write(tmp_path, VALID + f"{key}: [uploads, {value!r}]\n".replace("'", '"'))
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert str(refused.value) == f"{path}: {key}[1]: {problem}"


def test_link_overrides_and_clean_paths_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + 'link: {vm_args: "~/vm\\r.args"}\n')
    with pytest.raises(ConfigError) as override:
        load_config(path, environ={})
    problem = CONTROL.format(value="~/vm\r.args")
    assert str(override.value) == f"{path}: link.vm_args: {problem}"

    path = write(tmp_path, with_build_key("clean_paths", '["_build/{mix_env}/rel", "../.."]'))
    with pytest.raises(ConfigError) as clean:
        load_config(path, environ={})
    assert str(clean.value) == (
        f"{path}: build.clean_paths[1]: "
        + INSIDE.format(where="the build directory", value="../..")
    )
    config = load_config(write(tmp_path, with_build_key("clean_paths", "[priv/static/, _build]")))
    assert config.build is not None and config.build.clean_paths == ("priv/static", "_build")


@pytest.mark.parametrize(
    "args",
    [
        ("build", "release", "--mix-env=../../x"),
        ("build", "release", "--mix-env=prod; rm -rf /"),
        ("update", "production", "--mix-env=$(id)"),
        ("build", "upgrade", "--with=0.1.0", "--mix-env=../../x"),
    ],
)
def test_the_cli_refuses_a_bad_mix_env_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    path = write(tmp_path, VALID)
    result = run_cli("--config", path, *args)
    assert result.exit_code == 2, result.output
    value = args[-1].split("=", 1)[1]
    assert result.stderr == f"error: command line: build.mix_env: {MIX_ENV.format(value=value)}\n"
    assert result.stdout == ""


@pytest.mark.parametrize("version", ["abc", "1); System.halt(", "1.5", "-1", "", "1e3", "0x10"])
def test_migrate_refuses_a_version_that_is_not_digits(tmp_path: Path, version: str) -> None:
    # no .deliver at all: the flag is refused before anything is read
    result = run_cli(
        "--config", tmp_path / "none", "migrate", "production", "down", f"--version={version}"
    )
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: --version: expected a migration version (digits only, like "
        f"20240101120000), got {version!r}\n"
    )
