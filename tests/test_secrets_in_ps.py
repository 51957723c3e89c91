"""No secret on any argv, on any machine: while deliver builds and deploys on real sandbox
hosts (all of them processes of this machine), a thread reads every process's command line
every few milliseconds, as `ps` would for any user, and the secrets never show up in one.

The sampler proves it can see what it looks for: a plain (non-secret) marker, passed the way
the secrets used to travel, is found on the command lines of the same processes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import BuiltApp, edit_config, git, make_app_repo, run_cli, write_config

pytestmark = pytest.mark.slow

#: A hook that proves it got the secret (by its hash: the hook's own text is on a command
#: line) and lives long enough to be seen.
PROVE = 'sleep 0.3; printf %s "${name}" | sha256sum | cut -c1-64 > "$HOME/{log}"'


class ArgvSampler:
    """Every distinct command line seen on this machine while it runs (/proc/*/cmdline)."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.seen: set[tuple[int, str]] = set()
        self.sweeps = 0
        self._stop = threading.Event()

    @contextmanager
    def running(self) -> Iterator[ArgvSampler]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def with_text(self, text: str) -> list[str]:
        return sorted({line for _, line in self.seen if text in line})

    def _sample(self) -> None:
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    self._read(int(entry.name))
            self.sweeps += 1
            time.sleep(self.interval)

    def _read(self, pid: int) -> None:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                argv = file.read()
        except OSError:  # the process has ended
            return
        if argv:
            self.seen.add((pid, argv.replace(b"\0", b" ").decode(errors="replace")))


def hash_of(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def on_host(sandbox: Sandbox, host: str, command: str) -> str:
    return subprocess.run(
        ["ssh", "-F", str(sandbox.ssh_config), host, command], capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def slow_curl(sandbox: Sandbox, hosts: list[str]) -> Iterator[None]:
    """A `curl` first on the PATH of `hosts` (the sandbox's wrapper directory) that waits
    0.3 s before it becomes the real curl: its command line is curl's, long enough for any
    sampler to see it on a loaded machine."""
    shims = [sandbox.root / "hosts" / host / "bin" / "curl" for host in hosts]
    for shim in shims:
        shim.write_text(f'#!/bin/sh\nsleep 0.3\nexec {shutil.which("curl")} "$@"\n')
        shim.chmod(0o755)
    try:
        yield
    finally:
        for shim in shims:
            shim.unlink()


def test_the_sampler_sees_a_secret_on_a_command_line() -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    sampler = ArgvSampler()
    with sampler.running():
        subprocess.run(["sh", "-c", f"sleep 0.5; : {secret}"], check=True)
    assert sampler.with_text(secret) == [f"sh -c sleep 0.5; : {secret} "]


def test_no_build_env_secret_on_any_argv_during_a_build(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    marker = "plain-" + secrets.token_hex(8)
    monkeypatch.setenv("HELLO_BUILD_TOKEN", secret)
    log = f"build-token-{tmp_path.name}"
    repo = make_app_repo(tmp_path / "hello")
    (repo / "hooks").mkdir()
    (repo / "hooks" / "pre_compile").write_text(
        PROVE.replace("{name}", "BUILD_TOKEN").replace("{log}", log)
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a build hook that uses the secret")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused")

    def add_build_env(data: dict[str, Any]) -> None:
        data["build"]["env"] = {"BUILD_TOKEN": "${HELLO_BUILD_TOKEN}", "MARKER": marker}

    edit_config(config, add_build_env)
    sampler = ArgvSampler()
    with sampler.running():
        built = run_cli("--config", config, "--debug", "build", "release")
    assert built.exit_code == 0, built.output

    assert sampler.with_text(secret) == []
    # the probe could have failed: the plain marker is on the command lines of the build
    # steps (mix deps.get, compile, release) and of the hook, where the secret used to be
    seen = sampler.with_text(marker)
    for step in ("mix deps.get", "mix compile", "mix release", "deliver-hook"):
        assert any(step in line for line in seen), (step, seen)
    assert len(sampler.seen) > 50 and sampler.sweeps > 100
    # the hook and the build did get the secret
    assert on_host(sandbox, "build", f"cat ~/{log}") == hash_of(secret)
    assert secret not in built.output


def test_no_host_env_secret_on_any_argv_during_a_deploy_with_hooks_and_health_check(
    sandbox: Sandbox, deployment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    marker = "plain-" + secrets.token_hex(8)
    monkeypatch.setenv("HELLO_API_TOKEN", secret)
    log = f"deploy-token-{tmp_path.name}"

    def use_the_secret(data: dict[str, Any]) -> None:
        data["environments"]["production"]["env"] = {
            "API_TOKEN": "${HELLO_API_TOKEN}",
            "MARKER": marker,
        }
        data["hooks"] = {"pre_start": PROVE.replace("{name}", "API_TOKEN").replace("{log}", log)}
        # curl does not send the fragment, so the sample app answers 200; the old command
        # line held the whole URL, fragment included
        data["health_check"] = {"url": "http://127.0.0.1:{PORT}/#{API_TOKEN}"}

    edit_config(deployment, use_the_secret)
    sampler = ArgvSampler()
    with slow_curl(sandbox, ["web1", "web2"]), sampler.running():
        deployed = run_cli(
            "--config", deployment, "--debug", "deploy", "release", "to", "production",
            "--start-deploy",
        )  # fmt: skip
    assert deployed.exit_code == 0, deployed.output

    assert sampler.with_text(secret) == []
    # the probe could have failed: it saw the hook's shell with the plain marker on its
    # command line (where the secret used to be exported), and curl on both hosts
    assert any("deliver-hook" in line for line in sampler.with_text(marker))
    curls = sampler.with_text("bin/curl -s -o /dev/null")  # the shim, then curl
    for host in ("web1", "web2"):
        assert any(f"/hosts/{host}/bin/curl" in line for line in curls), curls
    assert all(line.endswith(" -K - ") for line in curls), curls
    assert len(sampler.seen) > 50 and sampler.sweeps > 100
    for host in ("web1", "web2"):
        assert on_host(sandbox, host, f"cat ~/{log}") == hash_of(secret)
    assert secret not in deployed.output
