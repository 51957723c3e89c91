"""Shared fixtures: an isolated environment, real sshd hosts, a sample app repo, and the CLI
run in-process.

The sandbox (a build host, two targets and a store host) and the first build of the sample
app are session-scoped: building a real release takes seconds, so tests share it. A test that
deploys gets its own `deliver_to` directory, so tests never see each other's releases or nodes.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from deliver import cli
from deliver.output import Output
from deliver.sandbox import Sandbox, start_sandbox, stop_sandbox

REPO = Path(__file__).resolve().parent.parent
HELLO = REPO / "examples" / "hello"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test sees the developer's HOME, ~/.ssh/config, ~/.aws, DELIVER_* or AWS_* variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in list(os.environ):
        if name.startswith(("DELIVER_", "AWS_")) or name == "AUTO_VERSION":
            monkeypatch.delenv(name)
    # boto3 would otherwise ask the EC2 metadata address for credentials: loopback only here
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str | Path) -> CliResult:
    """Run `deliver ARGS` in-process and capture what it printed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):  # click's own --help and usage
        code = cli.run([str(a) for a in args], out=Output(stdout, stderr, color=False))
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


def make_app_repo(directory: Path) -> Path:
    """A git repository holding the sample app `hello` 0.1.0 (no hex dependencies)."""
    directory.mkdir(parents=True)
    for name in ("mix.exs", ".formatter.exs", ".gitignore", "config", "lib"):
        source = HELLO / name
        if source.is_dir():
            shutil.copytree(source, directory / name)
        else:
            shutil.copy(source, directory / name)
    with (directory / ".gitignore").open("a") as ignore:
        ignore.write("/.deliver-releases/\n")
    git(directory, "init", "-q", "-b", "main")
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "hello 0.1.0")
    return directory


def write_config(
    path: Path,
    sandbox: Sandbox,
    *,
    deliver_to: str,
    store: Path | str | None = None,
    extra: str = "",
) -> Path:
    text = sandbox.deliver_config("hello", deliver_to=deliver_to)
    if store is not None:
        text += f"release_store: {store}\n"
    path.write_text(text + extra)
    return path


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("sandbox")
    box = start_sandbox(root, targets=2, store=True)
    yield box
    stop_sandbox(root)


@dataclass(frozen=True)
class BuiltApp:
    repo: Path
    config: Path
    store: Path


@pytest.fixture(scope="session")
def built_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> BuiltApp:
    """The sample app built once on the sandbox build host into a shared store."""
    repo = make_app_repo(tmp_path_factory.mktemp("shared") / "hello")
    store = repo / ".deliver-releases"
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/shared", store=store)
    result = run_cli("--config", config, "build", "release")
    assert result.exit_code == 0, result.output
    return BuiltApp(repo, config, store)


@pytest.fixture
def deployment(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A .deliver using the shared store and a deliver_to of this test's own; stops the
    nodes it started when the test ends."""
    deliver_to = "~/" + re.sub(r"\W", "_", request.node.name)[:50]
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to=deliver_to, store=built_app.store
    )
    yield config
    run_cli("--config", config, "stop", "production")
