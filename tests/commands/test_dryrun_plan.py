"""The plan lines of a dry run (dryrun_plan.py), from what a probe could have read: what
`update` and `upgrade` say each host would get, table-driven, no host involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.commands.dryrun_plan import DryRun, Found, host_plans
from deliver.commands.targets import targets
from deliver.config.load import load_config
from deliver.host.layout import HostReleases


def _found(current: str | None) -> Found:
    releases = None
    if current is not None:
        releases = HostReleases("web1", "/srv/app", current, current, "mix", present=(current,))
    return Found("/srv/app", releases, "", "")


@pytest.mark.parametrize(
    ("command", "current", "version", "expected"),
    [
        ("update", None, "0.2.0", "nothing is deployed here yet: upload, extract and switch "
         "current to 0.2.0"),
        ("update", "0.1.0", "0.2.0", "switch current from 0.1.0 to the new build, 0.2.0"),
        ("update", "0.2.0", "0.2.0", "0.2.0 is current here already: the deploy leaves it alone"),
        ("upgrade", "0.1.0", "0.2.0", "build the upgrade from 0.1.0 (what the node runs) to "
         "0.2.0 on the build host, then hot-upgrade the node in place"),
        ("upgrade", "0.2.0", "0.2.0", "runs 0.2.0 already, the version it would build: "
         "upgrade refuses, nothing to do"),
        ("upgrade", None, "0.2.0", "nothing is deployed here: upgrade would fail"),
    ],
)  # fmt: skip
def test_what_update_and_upgrade_say_of_a_host(
    tmp_path: Path, command: str, current: str | None, version: str, expected: str
) -> None:
    path = tmp_path / ".deliver.yml"
    path.write_text(
        "app: hello\nbuild: {host: build, at: ~/b}\n"
        "environments:\n  production:\n    deliver_to: /srv/app\n    hosts: [web1]\n"
    )
    config = load_config(path, environ={})
    request = DryRun(command, "production", version=version)
    plans = host_plans(config, request, targets(config, "production"), None,
                       {"web1": _found(current)}, None)  # fmt: skip
    assert any(expected in line for line in plans["web1"][1:]), plans
