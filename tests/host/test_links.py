"""Shared dirs/files and host-local config overrides linked into releases."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deliver.config import RuntimeLinks
from deliver.host.links import link_script
from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import edit_config, run_cli


def run_script(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env={**os.environ, "HOME": str(home)}
    )


def test_links_replace_release_paths_and_overrides_must_exist(tmp_path: Path) -> None:
    root = tmp_path / "app"
    release = root / "releases" / "1.0.0"
    (release / "releases" / "1.0.0").mkdir(parents=True)
    (release / "releases" / "1.0.0" / "vm.args").write_text("built\n")
    (release / "uploads").mkdir()
    (release / "uploads" / "from-the-build").write_text("")
    (root / "shared" / "etc").mkdir(parents=True)
    (root / "shared" / "etc" / "app.conf").write_text("shared conf\n")
    (tmp_path / "vm.args").write_text("host-local\n")
    links = RuntimeLinks(("uploads", "tmp/log"), ("etc/app.conf",), {"vm.args": "~/vm.args"})

    done = run_script(link_script(str(root), "1.0.0", links), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (release / "uploads").resolve() == root / "shared" / "uploads"
    assert list((release / "uploads").iterdir()) == []  # the build's copy is replaced
    assert (release / "tmp" / "log").resolve() == root / "shared" / "tmp" / "log"
    assert (release / "etc" / "app.conf").read_text() == "shared conf\n"
    assert (release / "releases" / "1.0.0" / "vm.args").read_text() == "host-local\n"
    again = run_script(link_script(str(root), "1.0.0", links), tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr

    missing = RuntimeLinks(overrides={"sys.config": "etc/sys.config"})
    failed = run_script(link_script(str(root), "1.0.0", missing), tmp_path)
    assert failed.returncode == 1
    assert failed.stdout.strip() == "link.sys_config: etc/sys.config does not exist"


@pytest.mark.slow
def test_linked_files_and_a_host_local_vm_args_with_rollback_on_failure(
    sandbox: Sandbox, versions_deployment: Path
) -> None:
    config = versions_deployment
    deliver_to = config.read_text().split("deliver_to: ")[1].split()[0]

    def links(data: dict[str, Any]) -> None:
        data["linked_dirs"] = ["uploads"]
        data["linked_files"] = ["etc/app.conf"]

    edit_config(config, links)
    missing = run_cli("--config", config, "deploy", "release", "production", "--version=0.1.0")
    assert missing.exit_code == 1
    assert "prepare failed on 2 host(s): web1, web2" in missing.stderr
    assert f"linked_files: shared/etc/app.conf is missing in {sandbox.host('web1').home}" in (
        missing.stderr
    )
    assert on_host(sandbox, "web1", f"readlink {deliver_to}/current || echo none") == "none"

    for name, marker in (("web1", "-hello_marker linked"), ("web2", "-kernel logger_level bogus")):
        on_host(
            sandbox,
            name,
            f"mkdir -p {deliver_to}/shared/etc && echo {name} > {deliver_to}/shared/etc/app.conf"
            f" && echo '{marker}' > ~/vm.args.local",
        )
    first = run_cli(
        "--config", config, "deploy", "release", "production", "--version=0.1.0", "--start-deploy"
    )
    assert first.exit_code == 0, first.output
    assert on_host(sandbox, "web2", f"cat {deliver_to}/current/etc/app.conf") == "web2"
    assert on_host(sandbox, "web1", f"readlink {deliver_to}/current/uploads") == (
        f"{sandbox.host('web1').home}/{deliver_to[2:]}/shared/uploads"
    )

    # web2's host-local vm.args breaks the VM: 0.1.1 crashes there and goes back to 0.1.0
    edit_config(config, lambda data: data.update(link={"vm_args": "~/vm.args.local"}))
    second = run_cli(
        "--config",
        config,
        "deploy",
        "release",
        "production",
        "--version=0.1.1",
        "--start-deploy",
        "--batch=1",
        "--rollback-on-failure",
    )
    assert second.exit_code == 1, second.output
    assert "restart failed on 1 host(s): web2" in second.stderr
    assert "0.1.1 crashed while starting" in second.stderr
    assert "succeeded on: web1" in second.stderr
    assert "switched back to 0.1.0: web2" in second.stderr
    assert ask_app(sandbox, "web1") == "hello 0.1.1\n"
    assert ask_app(sandbox, "web2") == "hello 0.1.0\n"
    marker = on_host(
        sandbox,
        "web1",
        f"cd {deliver_to}/current && bin/hello rpc 'IO.inspect(:init.get_argument(:hello_marker))'",
    )
    assert marker == "{:ok, [['linked']]}"

    shown = run_cli("--config", config, "show", "releases", "production")
    assert shown.exit_code == 0, shown.output
    assert "the hosts disagree on the current release: web1 0.1.1; web2 0.1.0" in shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert rows[3][:4] == ["web2", "0.1.1", "-", "failed"]
    assert rows[4][:3] == ["web2", "0.1.0", "current,running"]
