"""Fixtures of the hot-upgrade tests (hot_apps.py): the sample apps' upgrades, built once per
session, and hosts with a deliver_to of each test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deliver.sandbox import Sandbox
from tests.commands.hot_apps import Hosts, UpgradeApp, make_mix_app, make_rebar3_app
from tests.conftest import run_cli


@pytest.fixture(scope="session")
def mix_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> UpgradeApp:
    return make_mix_app(sandbox, tmp_path_factory)


@pytest.fixture(scope="session")
def rebar3_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> UpgradeApp:
    return make_rebar3_app(sandbox, tmp_path_factory)


@pytest.fixture
def hosts(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[Hosts]:
    box = Hosts(sandbox, request.node.name)
    yield box
    for config in box.configs:
        run_cli("--config", config, "stop", "production")
