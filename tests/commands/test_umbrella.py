"""An Elixir umbrella (examples/shop_umbrella: shop_core + shop_web, no hex deps, version 1.0.0
while its apps are 0.1.0) built with `build.release` on the sandbox build host, deployed,
started, pinged and asked over HTTP.

The .deliver names no `app:`: an umbrella's mix.exs has none, and the release name is the app's
name on hosts (`bin/<release>`). The umbrella has two releases: `shop`, which no application is
called, and `shop_web`, named like an application whose version is not the release's.
"""

from __future__ import annotations

import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import REPO, git, run_cli

pytestmark = pytest.mark.slow

SHOP = REPO / "examples" / "shop_umbrella"


def umbrella_config(sandbox: Sandbox, release: str, deliver_to: str) -> str:
    """The sandbox's .deliver with build.release instead of app (one build dir for both)."""
    text = sandbox.deliver_config("shop", deliver_to=deliver_to, release_store=".deliver-releases")
    assert text.startswith("app: shop\n")
    return text.removeprefix("app: shop\n").replace("build:\n", f"build:\n  release: {release}\n")


@pytest.fixture
def shop(sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A git repo of the umbrella sample; stops the nodes the test started."""
    repo = tmp_path / "shop_umbrella"
    shutil.copytree(SHOP, repo, ignore=shutil.ignore_patterns("_build", "deps"))
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("/*.deliver\n/.deliver-releases/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shop 1.0.0")
    base = "~/" + re.sub(r"\W", "_", request.node.name)[:40]
    for release in ("shop", "shop_web"):
        config = repo / f"{release}.deliver"
        config.write_text(umbrella_config(sandbox, release, f"{base}_{release}"))
    yield repo
    for release in ("shop", "shop_web"):
        run_cli("--config", repo / f"{release}.deliver", "stop", "production", "--host", "web1")


def ask(sandbox: Sandbox, host: str) -> str:
    url = f"http://127.0.0.1:{sandbox.host(host).app_port}/"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def deploy_and_ask(sandbox: Sandbox, repo: Path, release: str) -> str:
    """Build `release`, deploy and start it on web1, ping it; returns its HTTP answer."""
    config = repo / f"{release}.deliver"
    built = run_cli("--config", config, "build", "release")
    assert built.exit_code == 0, built.output
    assert f"Built {release} 1.0.0" in built.stdout
    assert (repo / f".deliver-releases/{release}_1.0.0.release.tar.gz").is_file()

    # --start-deploy also checks that the node reports the release's version
    deployed = run_cli(
        "--config", config, "deploy", "release", "production", "--host", "web1", "--start-deploy"
    )
    assert deployed.exit_code == 0, deployed.output
    ping = run_cli("--config", config, "ping", "production", "--host", "web1")
    assert ping.exit_code == 0, ping.output
    assert "web1: pong (pid" in ping.stdout
    version = run_cli("--config", config, "version", "production", "--host", "web1")
    assert "web1: 1.0.0" in version.stdout, version.output
    return ask(sandbox, "web1")


def test_umbrella_releases_build_deploy_and_answer(sandbox: Sandbox, shop: Path) -> None:
    # the release's name and version (from bin/<release>), the products from the core app
    assert deploy_and_ask(sandbox, shop, "shop") == "shop 1.0.0 apple,pear,plum\n"
    stopped = run_cli("--config", shop / "shop.deliver", "stop", "production", "--host", "web1")
    assert stopped.exit_code == 0, stopped.output  # web1's port is free for the next release

    assert deploy_and_ask(sandbox, shop, "shop_web") == "shop_web 1.0.0 apple,pear,plum\n"
