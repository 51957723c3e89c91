"""`node:` in .deliver: the service manager per environment, a host's own over it key by key,
and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config import Config, NodeManager
from deliver.config.load import load_config
from deliver.config.node import expand_command
from deliver.errors import ConfigError
from tests.conftest import run_cli

BASE = """\
app: hello
environments:
  production:
    deliver_to: /srv/hello
{node}    hosts:
      - web1
      - host: web2
{host}"""


def loaded(tmp_path: Path, node: str = "", host: str = "") -> Config:
    path = tmp_path / ".deliver"
    path.write_text(BASE.format(node=node, host=host))
    return load_config(path, environ={})


def managers(config: Config) -> tuple[NodeManager, NodeManager]:
    env = config.environment("production")
    return env.manager("web1"), env.manager("web2")


RUNIT = (
    "    node:\n      manager: command\n      start: sv start ~/service/{app}\n"
    "      stop: sv stop ~/service/{app}\n      status: sv status ~/service/{app}\n"
)


def test_the_default_is_the_daemon_logging_into_deliver_to_log(tmp_path: Path) -> None:
    web1, web2 = managers(loaded(tmp_path))
    assert web1 == web2 == NodeManager("daemon", log_dir="log")


def test_systemd_with_its_unit_name_and_user_units(tmp_path: Path) -> None:
    config = loaded(tmp_path, "    node: {manager: systemd, unit: my-app@web, user_unit: true}\n")
    web1, _ = managers(config)
    assert (web1.manager, web1.unit, web1.user_unit) == ("systemd", "my-app@web", True)
    assert web1.unit_name("hello") == "my-app@web.service"
    assert NodeManager("systemd").unit_name("hello") == "hello.service"
    assert NodeManager("systemd", unit="hello.service").unit_name("x") == "hello.service"


def test_a_host_overrides_the_environment_key_by_key(tmp_path: Path) -> None:
    config = loaded(
        tmp_path,
        RUNIT + "      log_dir: /var/log/hello\n",
        "        node: {stop: 'sv force-stop ~/service/{app}'}\n",
    )
    web1, web2 = managers(config)
    assert web1.stop == "sv stop ~/service/{app}"
    assert web2.stop == "sv force-stop ~/service/{app}"
    assert web2.start == web1.start and web2.log_dir == web1.log_dir == "/var/log/hello"


def test_a_host_with_another_manager_starts_from_that_managers_defaults(tmp_path: Path) -> None:
    config = loaded(tmp_path, RUNIT, "        node: {manager: systemd}\n")
    web1, web2 = managers(config)
    assert web1.manager == "command"
    assert web2 == NodeManager("systemd")


@pytest.mark.parametrize(
    ("node", "host", "error"),
    [
        (
            "    node: {manager: upstart}\n",
            "",
            "environments.production.node.manager: expected one of daemon, systemd, command, "
            "got 'upstart'",
        ),
        (
            "    node: {manager: command, start: a, stop: b}\n",
            "",
            "environments.production.node.status: required with manager: command",
        ),
        (
            RUNIT.replace("sv stop ~/service/{app}", "sv stop {service}"),
            "",
            "environments.production.node.stop: unknown placeholder {service} (known: {app}, "
            "{deliver_to}, {release})",
        ),
        (
            "    node: {manager: systemd, unit: '-H evil'}\n",
            "",
            "environments.production.node.unit: expected a systemd unit name",
        ),
        (
            "    node: {manager: systemd, start: x}\n",
            "",
            "environments.production.node.start: not a setting of manager: systemd",
        ),
        (
            "    node: {manager: daemon, unit: x}\n",
            "",
            "environments.production.node.unit: not a setting of manager: daemon",
        ),
        (
            "    node: {log_dir: ../outside}\n",
            "",
            "environments.production.node.log_dir: expected a directory relative to deliver_to",
        ),
        (
            "    node: {log_dir: ~/logs}\n",
            "",
            "environments.production.node.log_dir: expected a directory relative",
        ),
        (
            '    node: {manager: command, start: "a\\nb", stop: b, status: c}\n',
            "",
            "environments.production.node.start: control characters are not allowed",
        ),
        (
            "",
            "        node: {managr: systemd}\n",
            "environments.production.hosts[1].node.managr: unknown key",
        ),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, node: str, host: str, error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        loaded(tmp_path, node, host)
    assert error in str(raised.value)


def test_the_shells_own_braces_are_not_placeholders(tmp_path: Path) -> None:
    command = "docker start ${CONTAINER:-{app}} {release}"
    config = loaded(
        tmp_path, f"    node: {{manager: command, start: '{command}', stop: b, status: c}}\n"
    )
    assert managers(config)[0].start == command
    assert expand_command(command, {"app": "'hello'", "release": "'0.1.0'"}) == (
        "docker start ${CONTAINER:-'hello'} '0.1.0'"
    )


def test_the_shipped_example_configures_systemd_with_a_runit_host() -> None:
    example = Path(__file__).parents[2] / ".deliver.example"
    secret_file = Path("~/secrets/my_app/prod.secret.exs").expanduser()  # in the test's HOME
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text("import Config\n")
    environ = {"PRODUCTION_DATABASE_URL": "postgres://x", "MY_APP_SECRET_KEY_BASE": "skb"}
    production = load_config(example, environ=environ).environment("production")
    assert production.manager("deploy@web1.example.com") == NodeManager(
        "systemd", unit="my_app", log_dir="log"
    )
    web3 = production.manager("deploy@web3.example.com")
    assert (web3.manager, web3.status) == ("command", "sv status ~/service/{app}")


def test_check_config_says_who_starts_each_node(tmp_path: Path) -> None:
    path = tmp_path / ".deliver"
    path.write_text(BASE.format(node=RUNIT, host="        node: {manager: systemd}\n"))
    checked = run_cli("--config", path, "check", "config")
    assert checked.exit_code == 0, checked.output
    assert (
        "  web1 node: command: start `sv start ~/service/{app}`, stop `sv stop ~/service/{app}` "
        "(logs in log)\n"
    ) in checked.stdout
    assert "  web2 node: systemd unit hello.service (logs in its journal)\n" in checked.stdout
