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
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from bench.sample import GIT_ENV, REPO, git, make_app_repo

__all__ = ["REPO", "git", "make_app_repo"]  # shared with the test modules
from deliver import cli
from deliver.output import Output
from deliver.sandbox import Sandbox, start_sandbox, stop_sandbox

if TYPE_CHECKING:  # hot_apps imports this module: it is imported in the fixtures
    from tests.commands.hot_apps import Hosts, UpgradeApp


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


def edit_config(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change a .deliver as data: `change` gets the parsed YAML and edits it in place."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def host_entry(data: dict[str, Any], name: str, environment: str = "production") -> Any:
    """The mapping of host `name` in a parsed .deliver (as sandbox.deliver_config writes it)."""
    hosts = data["environments"][environment]["hosts"]
    return next(h for h in hosts if h["host"] == name)


def bump_version(repo: Path, version: str) -> None:
    """Commit a new version of the sample app in `repo`."""
    mix = repo / "mix.exs"
    mix.write_text(re.sub(r'version: "[^"]+"', f'version: "{version}"', mix.read_text(), count=1))
    git(repo, "commit", "-qam", f"hello {version}")


@pytest.fixture(scope="session")
def two_versions(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path_factory: pytest.TempPathFactory
) -> BuiltApp:
    """A store of its own holding hello 0.1.0 (the shared build) and 0.1.1, built once for
    the tests that move hosts between versions. Its repo is at 0.1.1."""
    repo = make_app_repo(tmp_path_factory.mktemp("versions") / "hello")
    store = repo / ".deliver-releases"
    store.mkdir()
    for path in built_app.store.glob("hello_0.1.0.release.*"):
        shutil.copy(path, store)
    bump_version(repo, "0.1.1")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused", store=store)
    result = run_cli("--config", config, "build", "release")
    assert result.exit_code == 0, result.output
    return BuiltApp(repo, config, store)


def _deployment(
    sandbox: Sandbox, store: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Path]:
    deliver_to = "~/" + re.sub(r"\W", "_", request.node.name)[:50]
    config = write_config(tmp_path / "deliver.yml", sandbox, deliver_to=deliver_to, store=store)
    yield config
    run_cli("--config", config, "stop", "production")


@pytest.fixture
def deployment(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A .deliver using the shared store and a deliver_to of this test's own; stops the
    nodes it started when the test ends."""
    yield from _deployment(sandbox, built_app.store, tmp_path, request)


@pytest.fixture
def versions_deployment(
    sandbox: Sandbox, two_versions: BuiltApp, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """Like `deployment`, with the store of `two_versions` (0.1.0 and 0.1.1)."""
    yield from _deployment(sandbox, two_versions.store, tmp_path, request)


@pytest.fixture(scope="session")
def mix_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> UpgradeApp:
    """The mix sample with tags v0.1.0 and v0.2.0 and its hot upgrade, built once
    (tests/commands/hot_apps.py): for the hot-upgrade tests and the fault suite."""
    from tests.commands.hot_apps import make_mix_app

    return make_mix_app(sandbox, tmp_path_factory)


@pytest.fixture
def hosts(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[Hosts]:
    """web1 and web2 with a deliver_to of this test's own (hot_apps.Hosts); stops every
    node deployed there when the test ends."""
    from tests.commands.hot_apps import Hosts

    box = Hosts(sandbox, request.node.name)
    yield box
    for config in box.configs:
        run_cli("--config", config, "stop", "production")
