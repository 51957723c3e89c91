"""The example hooks we ship in hooks/, on a Phoenix-like app built on the sandbox build host:
secrets copied into the build tree (never printed), assets built with npm (no network), build
info, and the clear error when the build host has no Node.js."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tarfile
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.conftest import REPO, git, make_app_repo, run_cli, write_config

pytestmark = pytest.mark.slow

BUILD_AT = "~/build/phoenix-like"
PACKAGE = {"name": "hello-assets", "version": "1.0.0", "private": True}
BUILD_JS = """const fs = require("fs");
fs.mkdirSync("../priv/static/assets", {recursive: true});
fs.writeFileSync("../priv/static/assets/app.js", "console.log('hello assets');\\n");
"""
CONFIG_EXS = """import Config

if File.exists?(Path.join(__DIR__, "prod.secret.exs")), do: import_config("prod.secret.exs")
"""


def make_phoenix_like_repo(directory: Path) -> Path:
    """The sample app with an npm asset pipeline (no dependencies: no network) and a config
    that imports config/prod.secret.exs when the build tree has one."""
    repo = make_app_repo(directory)
    assets = repo / "assets"
    assets.mkdir()
    (assets / "package.json").write_text(
        json.dumps({**PACKAGE, "scripts": {"deploy": "node build.js"}})
    )
    lock = {"name": PACKAGE["name"], "version": "1.0.0", "lockfileVersion": 3, "requires": True}
    lock["packages"] = {"": {"name": PACKAGE["name"], "version": "1.0.0"}}
    (assets / "package-lock.json").write_text(json.dumps(lock))
    (assets / "build.js").write_text(BUILD_JS)
    (repo / "config" / "config.exs").write_text(CONFIG_EXS)
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("/config/prod.secret.exs\n/.env.prod\n/assets/node_modules/\n/priv/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "assets and secrets")
    return repo


def on_build_host(sandbox: Sandbox, command: str) -> str:
    return subprocess.run(
        ["ssh", "-F", str(sandbox.ssh_config), "build", command],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_secrets_assets_and_build_info_hooks(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_phoenix_like_repo(tmp_path / "hello")
    api_key = f"sk-live-{secrets.token_hex(8)}"
    secret_file = tmp_path / "secrets" / "prod.secret.exs"
    secret_file.parent.mkdir()
    secret_file.write_text(f'import Config\nconfig :hello, api_key: "{api_key}"\n')
    db_url = f"ecto://hello:pw-{secrets.token_hex(8)}@db/hello"
    on_build_host_env = f"{sandbox.build_host.home}/{tmp_path.name}.env"
    on_build_host(sandbox, f"umask 077; echo 'DATABASE_URL={db_url}' > {on_build_host_env}")
    key_base = f"skb-{secrets.token_hex(8)}"
    monkeypatch.setenv("HELLO_SECRET_KEY_BASE", key_base)
    hooks = REPO / "hooks"
    extra = f"""hooks:
  pre_compile:
    - script: {hooks / "copy_secret_file"}
      env:
        SECRET_FILE_TARGET: config/prod.secret.exs
        SECRET_FILE_CONTENT: {{file: {secret_file}}}
    - script: {hooks / "copy_secret_file"}
      env: {{SECRET_FILE_TARGET: .env.prod, SECRET_FILE_SOURCE: {on_build_host_env}}}
    - script: {hooks / "write_build_info"}
  post_compile:
    # a careless hook that prints the secrets it can see: deliver masks what it knows
    run: echo "key base $SECRET_KEY_BASE"; cat config/prod.secret.exs
  pre_release:
    - script: {hooks / "phoenix_assets"}
"""
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused", extra=extra)
    config.write_text(
        config.read_text().replace(
            "  at: ~/build/hello\n",
            f'  at: {BUILD_AT}\n  env: {{SECRET_KEY_BASE: "${{HELLO_SECRET_KEY_BASE}}"}}\n',
        )
    )

    result = run_cli("--config", config, "--verbose", "--debug", "build", "release")
    assert result.exit_code == 0, result.output
    for secret in (api_key, db_url, key_base):
        assert secret not in result.output
    assert "build | key base ****" in result.stdout
    assert "build | ****" in result.stdout  # the secret file's line with the key
    assert "copy_secret_file: wrote config/prod.secret.exs" in result.stdout
    assert "phoenix_assets: npm ci" in result.stdout
    assert "mix phx.digest is not available" in result.stdout

    commit = git(repo, "rev-parse", "HEAD")
    with tarfile.open(repo / ".deliver-releases" / "hello_0.1.0.release.tar.gz") as tar:

        def read(name: str) -> str:
            member = tar.extractfile(name)
            assert member is not None
            return member.read().decode()

        assert (
            read("./lib/hello-0.1.0/priv/static/assets/app.js") == "console.log('hello assets');\n"
        )
        assert f"revision={commit}\n" in read("./lib/hello-0.1.0/priv/BUILD_INFO")
        erlang_binary = "<<" + ",".join(str(byte) for byte in api_key.encode()) + ">>"
        assert f"{{api_key,{erlang_binary}}}" in read("./releases/0.1.0/sys.config")
    copied = on_build_host(sandbox, f"cd {BUILD_AT} && stat -c %a .env.prod && cat .env.prod")
    assert copied == f"600\nDATABASE_URL={db_url}\n"


def test_assets_hook_says_when_the_build_host_has_no_node(sandbox: Sandbox, tmp_path: Path) -> None:
    repo = make_phoenix_like_repo(tmp_path / "hello")
    # the build host's PATH without Node.js: every other tool of /usr/bin
    no_node = tmp_path / "bin-without-node"
    no_node.mkdir()
    for tool in os.listdir("/usr/bin"):
        if tool not in ("node", "nodejs", "npm", "npx", "corepack"):
            (no_node / tool).symlink_to(f"/usr/bin/{tool}")
    extra = f"""hooks:
  pre_release:
    - script: {REPO / "hooks" / "phoenix_assets"}
      env: {{PATH: {no_node}}}
"""
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused", extra=extra)
    config.write_text(config.read_text().replace("  at: ~/build/hello\n", f"  at: {BUILD_AT}\n"))
    result = run_cli("--config", config, "build", "release")
    assert result.exit_code == 1
    assert (
        "error: hook pre_erlang_generate_release (phoenix_assets, .deliver: hooks.pre_release[0])"
        " failed on build (exit status 1)" in result.stderr
    )
    assert "phoenix_assets: node is not installed on the build host build" in result.stderr
    assert not (repo / ".deliver-releases").exists()
