"""Fixtures of the hot-upgrade tests (hot_apps.py): the rebar3 sample's upgrade, built once
per session. The mix sample's (`mix_app`) and `hosts` are in tests/conftest.py: the fault
suite uses them too."""

from __future__ import annotations

import pytest

from deliver.sandbox import Sandbox
from tests.commands.hot_apps import UpgradeApp, make_rebar3_app


@pytest.fixture(scope="session")
def rebar3_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> UpgradeApp:
    return make_rebar3_app(sandbox, tmp_path_factory)
