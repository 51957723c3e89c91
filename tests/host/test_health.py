"""Health check URLs: filled from each host's env, secrets kept out of what is shown."""

from __future__ import annotations

import pytest

from deliver.config import Environment, HealthCheck, HostSpec
from deliver.errors import UsageError
from deliver.host.health import HealthUrl, health_url, health_urls
from deliver.shell import Secret


def test_url_is_filled_from_the_host_env() -> None:
    check = HealthCheck("http://127.0.0.1:{PORT}{HEALTH_PATH}")
    url = health_url(check, {"PORT": "4001", "HEALTH_PATH": "/up"}, "web1")
    assert url == HealthUrl("http://127.0.0.1:4001/up", "http://127.0.0.1:4001/up")


def test_a_secret_in_the_url_makes_it_secret_and_is_masked_when_shown() -> None:
    check = HealthCheck("http://127.0.0.1:{PORT}/health?token={TOKEN}")
    url = health_url(check, {"PORT": "4001", "TOKEN": Secret("hunter2")}, "web1")
    assert url.value == Secret("http://127.0.0.1:4001/health?token=hunter2")
    assert url.shown == "http://127.0.0.1:4001/health?token=****"


def test_each_host_gets_its_own_url_and_a_missing_name_fails_before_anything_runs() -> None:
    hosts = (
        HostSpec.parse("web1", {"PORT": "4001"}),
        HostSpec.parse("web2", {"PORT": "4002"}),
        HostSpec.parse("web3"),
    )
    env = Environment("production", hosts, "~/app")
    check = HealthCheck("http://127.0.0.1:{PORT}/")
    assert health_urls(check, env, hosts[:2])["web2"].shown == "http://127.0.0.1:4002/"
    with pytest.raises(UsageError, match=r"health_check.url: \{PORT\} is not in the env of web3"):
        health_urls(check, env, hosts)
    assert health_urls(HealthCheck(), env, hosts) == {}
