"""`rollout:` in .deliver: the defaults, the global section under each environment's own,
and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config import BatchSize, RolloutSettings
from deliver.config.load import load_config
from deliver.errors import ConfigError

BASE = """\
app: hello
environments:
  staging:
    deliver_to: /srv/hello
    hosts: [web1]
  production:
    deliver_to: /srv/hello
    hosts: [web1, web2, web3]
"""


def loaded(tmp_path: Path, text: str) -> dict[str, RolloutSettings]:
    path = tmp_path / ".deliver"
    path.write_text(text)
    config = load_config(path, environ={})
    return {name: env.rollout for name, env in config.environments.items()}


def with_production(rollout: str) -> str:
    return BASE + f"    rollout: {rollout}\n"


@pytest.mark.parametrize(
    ("text", "staging", "production"),
    [
        (BASE, RolloutSettings(), RolloutSettings()),
        (
            BASE + "rollout: {batch: 2, wait: 1.5, rollback_on_failure: false}\n",
            RolloutSettings(BatchSize(2), 1.5, False),
            RolloutSettings(BatchSize(2), 1.5, False),
        ),
        (BASE + "rollout: {batch: 25%}\n", *[RolloutSettings(BatchSize(25, True))] * 2),
        (BASE + "rollout: {batch: '3'}\n", *[RolloutSettings(BatchSize(3))] * 2),
        (BASE + "rollout: {batch: auto, wait: 0}\n", RolloutSettings(), RolloutSettings()),
        # an environment's own keys win; the others still come from the global section
        (
            BASE.replace("environments:", "rollout: {batch: 2, wait: 3}\nenvironments:")
            + "    rollout: {batch: 100%}\n",
            RolloutSettings(BatchSize(2), 3.0),
            RolloutSettings(BatchSize(100, True), 3.0),
        ),
        (
            BASE.replace("environments:", "rollout: {batch: 2}\nenvironments:")
            + "    rollout: {batch: auto, rollback_on_failure: false}\n",
            RolloutSettings(BatchSize(2)),
            RolloutSettings(None, rollback_on_failure=False),
        ),
    ],
)
def test_rollout_settings(
    tmp_path: Path, text: str, staging: RolloutSettings, production: RolloutSettings
) -> None:
    assert loaded(tmp_path, text) == {"staging": staging, "production": production}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE + "rollout: {batch: 0}\n",
            "rollout.batch: expected auto, a number of hosts (2) or a percentage (25%), got 0",
        ),
        (with_production("{batch: 150%}"), "environments.production.rollout.batch: expected auto"),
        (with_production("{batch: half}"), "rollout.batch: expected auto, a number of hosts (2)"),
        (with_production("{batch: true}"), "got a boolean"),
        (with_production("{batch: 2.5}"), "got 2.5"),
        (BASE + "rollout: {wait: -1}\n", "rollout.wait: expected a number of seconds (0 or more)"),
        (with_production("{wait: soon}"), "production.rollout.wait: expected a number of seconds"),
        (
            BASE + "rollout: {rollback_on_failure: maybe}\n",
            "rollout.rollback_on_failure: expected true or false, got 'maybe'",
        ),
        (
            with_production("{batches: 2}"),
            "environments.production.rollout.batches: unknown key (expected one of: batch, "
            "rollback_on_failure, wait)",
        ),
        (BASE + "rollout: 2\n", ".deliver: rollout: expected a mapping, got 2"),
    ],
)
def test_invalid_rollout_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        loaded(tmp_path, text)
    assert message in str(error.value)


def test_a_mistyped_rollout_key_gets_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        loaded(tmp_path, BASE + "rollout: {rollback_on_failur: true}\n")
    assert error.value.hint == "did you mean rollback_on_failure?"


def test_the_shipped_example_documents_the_defaults() -> None:
    example = Path(__file__).parents[2] / ".deliver.example"
    secret_file = Path("~/secrets/my_app/prod.secret.exs").expanduser()  # in the test's HOME
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text("import Config\n")
    environ = {"PRODUCTION_DATABASE_URL": "postgres://x", "MY_APP_SECRET_KEY_BASE": "skb"}
    config = load_config(example, environ=environ)
    assert config.environment("staging").rollout == RolloutSettings()
    assert config.environment("production").rollout == RolloutSettings(wait=5.0)
