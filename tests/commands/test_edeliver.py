"""`deliver import edeliver`: edeliver configs of the shapes found in real repositories
(tests/commands/edeliver_configs/), each sourced for real in the isolated bash, converted,
written, and checked with `deliver check config`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from deliver.commands.edeliver import evaluate, parse_records
from deliver.config.edeliver_hooks import convert, mix_envs
from tests.conftest import run_cli

CONFIGS = Path(__file__).parent / "edeliver_configs"

#: fixture -> (what the written config holds, as YAML data paths; what the report says)
EXPECTED: dict[str, tuple[dict[str, object], list[str]]] = {
    "readme_phoenix": (
        {
            "build.host": "builder@build.example.com",
            "build.tool": "distillery",
            "build.auto_version": "commit-count+git-revision+branch-unless-master",
            "environments.staging.deliver_to": "/home/web/staging",
            "environments.production.hosts": ["web@web1.example.com", "web@web2.example.com"],
            "hooks.pre_erlang_get_and_update_deps": [
                {
                    "script": "hooks/copy_secret_file",
                    "env": {
                        "SECRET_FILE_SOURCE": "/home/builder/prod.secret.exs",
                        "SECRET_FILE_TARGET": "config/prod.secret.exs",
                    },
                }
            ],
            "hooks.pre_erlang_generate_release": [{"script": "hooks/phoenix_assets"}],
        },
        [
            "GIT_CLEAN_PATHS: edeliver runs `git clean -ffdx _build rel priv/static`",
            "ECTO_REPOSITORY: migrations:",
            "pre_something_else: is no edeliver hook point",
            "post_extract_release_archive: edeliver's release root /home/web/my_app is $DELIVER_TO",
            "x: set from the output of `date`, which was recorded, not run",
        ],
    ),
    "helper_functions": (
        {
            "hooks.pre_erlang_get_and_update_deps": [
                {
                    "script": "hooks/copy_secret_file",
                    "env": {
                        "SECRET_FILE_SOURCE": "/home/builder/secrets/prod.secret.exs",
                        "SECRET_FILE_TARGET": "config/prod.secret.exs",
                    },
                }
            ],
            "hooks.pre_erlang_generate_release": [{"script": "hooks/phoenix_assets"}],
        },
        ["the asset build (npm/yarn, brunch/webpack, phx.digest) is hooks/phoenix_assets"],
    ),
    "mix_env_guards": (
        {
            "build.mix_env": "prod",
            "hooks.post_erlang_get_and_update_deps": [
                {
                    "run": 'if [ "$MIX_ENV" = prod ]; then\n'
                    "cp /etc/guarded/prod.env \"$BUILD_AT\"'/.env'\nfi\n"
                },
                {
                    "run": 'if [ "$MIX_ENV" = staging ]; then\n'
                    "cp /etc/guarded/staging.env \"$BUILD_AT\"'/.env'\nfi\n"
                },
            ],
            "hooks.pre_erlang_generate_release": [
                {
                    "run": 'if [ "$MIX_ENV" = prod ]; then\n'
                    "echo building a production release in prod\nfi\n"
                },
                {"run": "if [ \"$MIX_ENV\" = bench ]; then\necho 'benchmark build'\nfi\n"},
            ],
        },
        ["post_erlang_get_and_update_deps: compares $TARGET_MIX_ENV with prod, staging"],
    ),
    "local_scp": (
        {
            "hooks.pre_erlang_get_and_update_deps": [
                {"run": "echo 'Copying prod.secret.exs'"},
                {
                    "script": "hooks/copy_secret_file",
                    "env": {
                        "SECRET_FILE_TARGET": "config/prod.secret.exs",
                        "SECRET_FILE_CONTENT": {"file": "~/secrets/notes/prod.secret.exs"},
                    },
                },
                {
                    "run": "scp ~/notes.txt builder@build.example.com:/tmp/notes.txt",
                    "runs_on": "local",
                },
            ],
        },
        ["(a local scp of a secret) is hooks/copy_secret_file", "kept as runs_on: local"],
    ),
    "localhost_build": (
        {
            "build.host": "builder@localhost",
            "build.at": "~/builds/local_app",
            "build.auto_version": "git-revision",
            "environments.production.hosts": ["deploy@localhost"],
        },
        ["BUILD_HOST: localhost: edeliver logs in over SSH, and so does deliver"],
    ),
    "localhost_no_user": (
        {"build.host": "localhost:22", "environments.production.hosts": ["solo.example.com"]},
        ["localhost without BUILD_USER: written localhost:22", "PRODUCTION_USER: not set"],
    ),
    "unset_variables": (
        {"environments.production.deliver_to": "~/production", "build.host": "build.example.com"},
        ["APP: not set", "BUILD_USER: not set", "DELIVER_TO: not set"],
    ),
    "empty_host_list": (
        {"environments.production.hosts": ["deploy@half.example.com"]},
        ["STAGING_HOSTS: empty: no staging environment written"],
    ),
    "deliver_to_twice": (
        {
            "environments.staging.deliver_to": "/srv/twice-staging",
            "environments.production.deliver_to": "/srv/twice",
        },
        ["DELIVER_TO: assigned 2 times"],
    ),
    "values_from_env": (
        {"build.host": "builder@build.example.com", "environments.staging.deliver_to": "/srv/envy"},
        [
            "ENVY_HOSTS: read from the environment",
            "PRODUCTION_HOSTS: empty: no production environment written",
        ],
    ),
    "unknown_hook_points": (
        {
            "hooks.post_erlang_get_and_update_deps": [
                {"run": 'cd "$BUILD_AT" && echo updated to $VERSION\n'}
            ],
            "hooks.post_upgrade_release": [
                {"run": "set -e\n\"$DELIVER_TO\"'/bin/hooky' rpc 'Hooky.warm_caches()'\n"}
            ],
        },
        [
            "pre_erlang_build_docs: is no edeliver hook point",
            "post_deploy: is no edeliver hook",
            "post_erlang_update: runs as deliver's post_erlang_get_and_update_deps",
        ],
    ),
    "exrm": (
        {"build.tool": "auto"},
        [
            "without USING_DISTILLERY edeliver builds with exrm",
            "RELEASE_DIR: '/home/builder/oldie/rel/oldie' is not needed",
            "REBAR_CONFIG: not translated",
        ],
    ),
    "runs_commands": (
        {"environments.production.hosts": ["deploy@web1.example.com"], "build": None},
        [
            "BUILD_HOST: not set",
            "BUILD_HOST: set from the output of `hostname -f`, which was recorded, not run",
            "BUILD_USER: set from the output of `whoami`",
            "the file runs `git fetch origin`",
            "restricted: cannot specify `/' in command names",
            "restricted: cannot redirect output",
            "cd: restricted",
            "exec: restricted",
        ],
    ),
    "store_links_flags": (
        {
            "release_store": "s3://my-bucket/releases",
            "link": {
                "vm_args": "/home/deploy/linked.vm.args",
                "sys_config": "/home/deploy/linked.sys.config",
            },
        },
        [
            "RELEASE_STORE: credentials in the s3:// URL were left out",
            "START_DEPLOY: is an edeliver flag: give --start-deploy",
            "SKIP_GIT_CLEAN: is an edeliver flag",
        ],
    ),
}


def _at(data: dict[str, object], path: str) -> object:
    value: object = data
    for part in path.split("."):
        assert isinstance(value, dict), (path, data)
        value = value.get(part)
    return value


def _project(tmp_path: Path, name: str) -> Path:
    project = tmp_path / "app"
    (project / ".deliver").mkdir(parents=True)
    (project / "mix.exs").write_text(
        "defmodule App.MixProject do\n  use Mix.Project\n"
        '  def project, do: [app: :hello, version: "0.1.0"]\nend\n'
    )
    shutil.copy(CONFIGS / f"{name}.sh", project / ".deliver" / "config")
    return project


def test_every_fixture_has_expectations() -> None:
    assert {p.stem for p in CONFIGS.glob("*.sh")} == set(EXPECTED)
    assert len(EXPECTED) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_edeliver_config_converts_to_one_check_config_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    project = _project(tmp_path, name)
    home = Path.home()
    (home / "secrets" / "notes").mkdir(parents=True)
    (home / "secrets" / "notes" / "prod.secret.exs").write_text("import Config\n")
    canary = tmp_path / "canary"
    monkeypatch.setenv("DELIVER_IMPORT_CANARY", str(canary))
    monkeypatch.setenv("ENVY_HOSTS", "not-passed.example.com")

    printed = run_cli("import", "edeliver", project / ".deliver" / "config")
    assert printed.exit_code == 0, printed.output
    for script in ("copy_secret_file", "phoenix_assets"):
        used = f"hooks/{script}" in printed.stdout
        assert used == (f"example hook hooks/{script}: --write copies it" in printed.stderr)
    assert not (project / ".deliver.yml").exists()
    written = run_cli("import", "edeliver", project / ".deliver" / "config", "--write")
    assert written.exit_code == 0, written.output
    data = yaml.safe_load((project / ".deliver.yml").read_text())
    assert yaml.safe_load(printed.stdout) == data

    values, notes = EXPECTED[name]
    for path, expected in values.items():
        assert _at(data, path) == expected, (path, data)
    for note in notes:
        assert note in written.stderr, written.stderr
    assert "does not pass `deliver check config`" not in written.stderr

    checked = run_cli("--config", project / ".deliver.yml", "check", "config")
    assert checked.exit_code == 0, checked.output
    assert not canary.exists()


def test_with_env_passes_the_callers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, "values_from_env")
    monkeypatch.setenv("ENVY_HOSTS", "a.example.com b.example.com")
    monkeypatch.setenv("ENVY_BUILD_HOST", "other-build")
    result = run_cli("import", "edeliver", project / ".deliver" / "config", "--with-env")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["environments"]["production"]["hosts"] == [
        "deploy@a.example.com",
        "deploy@b.example.com",
    ]
    assert data["build"]["host"] == "builder@other-build"


def test_nothing_the_file_runs_happens(tmp_path: Path) -> None:
    """Commands, absolute paths, redirections, exec and the network stay recorded."""
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    text = (
        f"APP=x\nrm -f {victim}\n/bin/rm -f {victim}\necho gone > {victim}\n"
        f"exec /bin/rm -f {victim}\nBUILD_HOST=$(cat < /dev/tcp/127.0.0.1/22 | head -c 3)\n"
        "enable -f /nonexistent.so x\nset +r\n/bin/true\n"
    )
    evaluation = evaluate("config", text)
    assert victim.read_text() == "keep me"
    production = evaluation.sourced["production"]
    assert f"rm -f {victim}" in [call.text() for call in production.calls]
    assert [c.text() for c in production.substituted["BUILD_HOST"]] == ["head -c 3"]
    errors = "\n".join(evaluation.sourced["production"].errors)
    assert "/dev/tcp/127.0.0.1/22: restricted" in errors
    assert "enable: restricted" in errors and "+r: invalid option" in errors


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    project = _project(tmp_path, "localhost_build")
    (project / ".deliver.yml").write_text("# mine\n")
    refused = run_cli("import", "edeliver", project / ".deliver" / "config", "--write")
    assert refused.exit_code == 2
    assert "exists already" in refused.stderr and "--force" in refused.stderr
    assert (project / ".deliver.yml").read_text() == "# mine\n"
    forced = run_cli("import", "edeliver", project / ".deliver" / "config", "--write", "--force")
    assert forced.exit_code == 0, forced.output
    assert "app: local_app" in (project / ".deliver.yml").read_text()


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("import", "edeliver", tmp_path / "nope")
    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.output


def test_records_inside_command_substitutions_come_first() -> None:
    text = "\x1e2\x1f__sync_remote\x1fcd \x1e2\x1fexec\x1fpwd\x1d/x\x1d\x1e1\x1f@end\x1d"
    assert parse_records(text) == [("exec", "pwd"), ("__sync_remote", "cd /x"), ("@end",)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('if [ "$TARGET_MIX_ENV" = "prod" ]; then x; fi', ["prod"]),
        ('[ "$TARGET_MIX_ENV" == staging ] && x', ["prod", "staging"]),
        ('[ "${TARGET_MIX_ENV}" != "dev" ] && x', ["prod", "dev"]),
        ('case "$TARGET_MIX_ENV" in\n  prod|bench) x ;;\nesac', ["prod", "bench"]),
        (
            'case "$TARGET_MIX_ENV" in\n  staging)\n  x\n;;\n  dev) y ;;\nesac',
            ["prod", "staging", "dev"],
        ),
        ("status hi", ["prod"]),
    ],
)
def test_mix_envs_a_hook_compares_against(body: str, expected: list[str]) -> None:
    assert mix_envs(body, "prod") == expected


def test_found_from_a_subdirectory_and_written_beside_dot_deliver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, "localhost_build")
    (project / ".git").mkdir()  # the work tree's root: the search stops there
    (project / "lib" / "deep").mkdir(parents=True)
    monkeypatch.chdir(project / "lib" / "deep")
    result = run_cli("import", "edeliver", "--write")
    assert result.exit_code == 0, result.output
    assert (project / ".deliver.yml").is_file()
    monkeypatch.chdir(tmp_path)
    missing = run_cli("import", "edeliver")
    assert missing.exit_code == 2
    assert f"no .deliver/config in {tmp_path} or above it" in missing.stderr


def test_a_file_that_exits_keeps_what_it_had_set() -> None:
    evaluation = evaluate("config", 'APP="early"\nexit 3\nBUILD_HOST=never\n')
    conversion = convert(evaluation)
    assert conversion.data["app"] == "early"
    assert "build" not in conversion.data
    assert any("stopped the shell before its end" in n.text for n in conversion.notes)
