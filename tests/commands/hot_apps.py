"""The sample apps of the hot-upgrade tests, on two real sandbox hosts: the mix sample
(`examples/hello`) and the rebar3 sample (`examples/counter_erl`), each with tags v0.1.0 and
v0.2.0 (whose GenServer state changes shape) and NO hand-written appup in v0.2.0: deliver
generates them. The mix app's branch head then ships rel/appups/hello.appup. Each app's
upgrade 0.1.0 -> 0.2.0 is built once per session (fixtures in conftest.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import REPO, CliResult, git, make_app_repo, run_cli

EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class UpgradeApp:
    """A sample app repo with tags v0.1.0 and v0.2.0, its upgrade built into `store`."""

    name: str
    repo: Path
    store: Path
    state_before: str  # /state of 0.1.0 after three increments
    state_after: str  # the same state converted by 0.2.0's code_change
    fresh_state: str  # /state of a freshly started 0.2.0


def commit_version_2(repo: Path, files: dict[str, str]) -> None:
    for source, target in files.items():
        (repo / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, repo / target)
    git(repo, "add", "-f", "-A")
    git(repo, "commit", "-q", "-m", "0.2.0")
    git(repo, "tag", "v0.2.0")


def config_text(sandbox: Sandbox, app: UpgradeApp, deliver_to: str, store: Path | str) -> str:
    text = sandbox.deliver_config(app.name, deliver_to=deliver_to)
    text = text.replace(f"at: ~/build/{app.name}", f"at: ~/build/{app.name}-upgrade")
    return text + f"release_store: {store}\n"


def build_upgrade(sandbox: Sandbox, app: UpgradeApp) -> None:
    config = app.repo / ".deliver"
    config.write_text(config_text(sandbox, app, "~/unused", app.store))
    result = run_cli("--config", config, "build", "upgrade", "--from=v0.1.0", "--to=v0.2.0")
    assert result.exit_code == 0, result.output
    assert f"Built upgrade {app.name} 0.1.0 -> 0.2.0" in result.stdout


def make_mix_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> UpgradeApp:
    repo = make_app_repo(tmp_path_factory.mktemp("mix") / "hello")
    git(repo, "tag", "v0.1.0")
    upgrade = EXAMPLES / "hello/upgrade/0.2.0"
    commit_version_2(
        repo,
        {upgrade / "mix.exs": "mix.exs", upgrade / "lib/hello/counter.ex": "lib/hello/counter.ex"},
    )
    app = UpgradeApp("hello", repo, repo / ".deliver-releases", "3", "%{count: 3}", "%{count: 0}")
    build_upgrade(sandbox, app)  # v0.2.0 ships no appup: deliver generates one
    # the branch head (what `deliver upgrade` builds) ships the user's appup
    (repo / "rel/appups").mkdir(parents=True)
    shutil.copy(upgrade / "hello.appup", repo / "rel/appups/hello.appup")
    git(repo, "add", "rel")
    git(repo, "commit", "-q", "-m", "the appup of 0.2.0")
    return app


def make_rebar3_app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> UpgradeApp:
    repo = tmp_path_factory.mktemp("rebar3") / "counter_erl"
    shutil.copytree(EXAMPLES / "counter_erl", repo, ignore=shutil.ignore_patterns("upgrade"))
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("/.deliver-releases/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "counter_erl 0.1.0")
    git(repo, "tag", "v0.1.0")
    upgrade = EXAMPLES / "counter_erl/upgrade/0.2.0"
    commit_version_2(
        repo,
        {
            upgrade / "rebar.config": "rebar.config",
            upgrade / "src/counter_erl.app.src": "src/counter_erl.app.src",
            upgrade / "src/counter_erl_server.erl": "src/counter_erl_server.erl",
        },
    )
    app = UpgradeApp(
        "counter_erl", repo, repo / ".deliver-releases", "3", "#{count => 3}", "#{count => 0}"
    )
    build_upgrade(sandbox, app)
    return app


class Hosts:
    """Configs with a deliver_to of the test's own; stops every node it deployed at the end."""

    def __init__(self, sandbox: Sandbox, name: str) -> None:
        self.sandbox = sandbox
        # short, and unique per test and parameter
        safe = re.sub(r"\W", "_", name)[:32]
        self.name = f"{safe}_{zlib.crc32(name.encode()):x}"
        self.deliver_to = f"~/{self.name}"
        self.configs: list[Path] = []

    def config(self, app: UpgradeApp, store: Path | str | None = None) -> Path:
        # in the app's repo (untracked): `deliver upgrade` builds the repo's branch head
        path = app.repo / f".deliver-{self.name}-{len(self.configs)}.yml"
        path.write_text(config_text(self.sandbox, app, self.deliver_to, store or app.store))
        self.configs.append(path)
        return path

    def ask(self, host: str, path: str = "/") -> str:
        url = f"http://127.0.0.1:{self.sandbox.host(host).app_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode()).strip()

    def incr(self, host: str, times: int) -> None:
        for _ in range(times):
            self.ask(host, "/incr")

    def tree(self, host: str) -> str:
        """Every path, link target and size under deliver_to, but the nodes' tmp/ (logs) and
        the audit log (which records every attempt, refused ones too)."""
        return self.sh(
            host,
            "find . -path '*/tmp' -prune -o ! -name deliver.audit -printf '%p %l %s\\n' | sort",
        )

    def sh(self, host: str, command: str) -> str:
        return self.on(host, f"cd {self.deliver_to} && {command}")

    def on(self, host: str, command: str) -> str:
        return subprocess.run(
            ["ssh", "-F", str(self.sandbox.ssh_config), host, command],
            capture_output=True,
            text=True,
        ).stdout.strip()


def deliver(config: Path, *args: str) -> CliResult:
    return run_cli("--config", config, *args)


def ok(result: CliResult) -> CliResult:
    assert result.exit_code == 0, result.output
    return result


def pids(config: Path) -> dict[str, str]:
    output = ok(deliver(config, "ping", "production")).stdout
    return dict(re.findall(r"(web\d): pong \(pid (\d+)\)", output))
