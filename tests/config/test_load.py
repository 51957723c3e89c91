from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deliver.config import (
    HealthCheck,
    HostSpec,
    Migrations,
    Overrides,
    RuntimeLinks,
    S3StoreSpec,
    SshStoreSpec,
)
from deliver.config.load import load_config
from deliver.errors import ConfigError
from deliver.shell import Secret
from tests.conftest import REPO, run_cli

VALID = """\
app: hello
build:
  host: builder@build.example.com:2222
  at: ~/build/hello
environments:
  production:
    deliver_to: /srv/hello
    hosts:
      - web1.example.com
      - host: deploy@web2.example.com
        env: {PORT: "4001"}
"""

UMBRELLA = Path(__file__).resolve().parents[2] / "examples" / "shop_umbrella"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".deliver"
    path.write_text(text)
    return path


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), environ={})
    assert config.app == "hello"
    assert config.build is not None
    assert config.build.host == HostSpec(
        "builder@build.example.com:2222", "build.example.com", "builder", 2222
    )
    assert config.build.mix_env == "prod"
    assert config.release_store == tmp_path / ".deliver-releases"
    production = config.environment("production")
    assert [h.name for h in production.hosts] == ["web1.example.com", "deploy@web2.example.com"]
    assert production.host_env(production.hosts[1]) == {"PORT": "4001"}
    assert config.ssh.known_hosts == Path("~/.ssh/known_hosts").expanduser()
    assert config.hot_upgrade.policy == "always"
    patch_only = load_config(
        write(tmp_path, VALID + "hot_upgrade: {policy: patch-only}\n"), environ={}
    )
    assert patch_only.hot_upgrade.policy == "patch-only"


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path, VALID.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  mix_env: dev\n")
    )
    assert load_config(path, environ={}).require_build().mix_env == "dev"
    environ = {"DELIVER_MIX_ENV": "test"}
    assert load_config(path, environ=environ).require_build().mix_env == "test"
    flags = Overrides(mix_env="bench")
    assert load_config(path, environ=environ, overrides=flags).require_build().mix_env == "bench"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_config(environ={"DELIVER_CONFIG": str(path)}).app == "hello"


def test_app_name_detected_from_mix_exs(tmp_path: Path) -> None:
    (tmp_path / "mix.exs").write_text('def project, do: [app: :my_shop, version: "1.0.0"]')
    config = load_config(write(tmp_path, VALID.replace("app: hello\n", "")), environ={})
    assert config.app == "my_shop"


def test_umbrella_without_release_asks_for_build_release(tmp_path: Path) -> None:
    shutil.copy(UMBRELLA / "mix.exs", tmp_path / "mix.exs")
    text = VALID.replace("app: hello\n", "")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert str(error.value) == (
        f"{path}: build.release: required in an umbrella project (its mix.exs has apps_path, "
        "no app): name the release to build, one of the releases in mix.exs"
    )
    with_release = text.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  release: shop\n")
    assert load_config(write(tmp_path, with_release), environ={}).app == "shop"


def test_secret_reference_comes_from_local_environment(tmp_path: Path) -> None:
    text = VALID + '    env: {DB_PASSWORD: "${DB_PASS}", MODE: plain}\n'
    config = load_config(write(tmp_path, text), environ={"DB_PASS": "hunter2"})
    env = config.environment("production").env
    assert env["DB_PASSWORD"] == Secret("hunter2")
    assert str(env["DB_PASSWORD"]) == "****"
    assert env["MODE"] == "plain"
    assert config.secrets() == [Secret("hunter2")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app: [1", ".deliver: line 1, column 8: expected ',' or ']', but got '<stream end>'"),
        ("- just\n- a list\n", ".deliver: expected a mapping of keys, got a list"),
        (
            VALID.replace("app: hello", "app: Hello-App"),
            ".deliver: app: expected a release name like my_app, got 'Hello-App'",
        ),
        (
            VALID + "colour: blue\n",
            ".deliver: colour: unknown key (expected one of: app, build, environments, "
            "health_check, hooks, hot_upgrade, keep_releases, link, linked_dirs, linked_files, "
            "lock_wait, migrations, release_store, rollout, s3, ssh, start_timeout, "
            "stop_timeout, tasks)",
        ),
        (
            VALID.replace("      - web1.example.com", "      - 42"),
            '.deliver: environments.production.hosts[0]: expected "[user@]host[:port]" or an '
            "ssh_config alias, got 42",
        ),
        (
            VALID.replace("deploy@web2.example.com", "deploy@web2:99999"),
            '.deliver: environments.production.hosts[1]: expected "[user@]host[:port]" or an '
            "ssh_config alias, got 'deploy@web2:99999'",
        ),
        (
            VALID.replace("    deliver_to: /srv/hello\n", ""),
            ".deliver: environments.production.deliver_to: required: where the app lives on hosts",
        ),
        (
            VALID.replace(
                "      - web1.example.com\n      - host: deploy@web2.example.com\n"
                '        env: {PORT: "4001"}\n',
                "      []\n",
            ),
            ".deliver: environments.production.hosts: expected a non-empty list, got a list",
        ),
        (
            VALID.replace('{PORT: "4001"}', "{PORT: [1]}"),
            ".deliver: environments.production.hosts[1].env.PORT: expected a string value, "
            "got a list",
        ),
        (
            VALID.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  tool: make\n"),
            ".deliver: build.tool: expected one of auto, custom, distillery, mix, rebar3, "
            "got 'make'",
        ),
        (
            VALID + "ssh: {connect_timeout: soon}\n",
            ".deliver: ssh.connect_timeout: expected a positive number, got 'soon'",
        ),
        (VALID + "environments: oops\n", ".deliver: environments: expected a mapping, got 'oops'"),
        (
            VALID + "hooks: {pre_compiel: echo hi}\n",
            ".deliver: hooks.pre_compiel: unknown hook point (see the hook table in the README)",
        ),
        (
            VALID + "hooks: {pre_compile: [{run: echo, runs_on: deploy}]}\n",
            ".deliver: hooks.pre_compile[0].runs_on: expected build or local for "
            "pre_erlang_clean_compile, got 'deploy'",
        ),
        (
            VALID + "hooks: {post_start: {script: hooks/nope.sh}}\n",
            ".deliver: hooks.post_start.script: no such file: {dir}/hooks/nope.sh",
        ),
        (
            VALID + "hooks: {pre_start: {run: x, script: y}}\n",
            ".deliver: hooks.pre_start: set one of script (a file), run (a command) or task "
            "(a custom task)",
        ),
        (
            VALID + "hooks: {post_start: {task: 'warm; rm -rf /'}}\n",
            ".deliver: hooks.post_start.task: expected a task's name, got 'warm; rm -rf /'",
        ),
        (
            VALID + "hooks: {post_start: {task: warm, runs_on: local}}\n",
            ".deliver: hooks.post_start.runs_on: a task runs here already, with a connection",
        ),
        (
            VALID + "tasks: [a]\n",
            ".deliver: tasks: expected a non-empty string, got a list",
        ),
        (
            VALID.replace('{PORT: "4001"}', "{KEY: {file: missing.key}}"),
            ".deliver: environments.production.hosts[1].env.KEY.file: cannot read "
            "{dir}/missing.key: No such file or directory",
        ),
        (
            VALID.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  auto_version: rev\n"),
            ".deliver: build.auto_version: unknown part 'rev' (expected revision, commit-count, "
            "commit-count-branch, branch, branch-unless-main, date, time, joined by +)",
        ),
        (
            VALID.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  tool: custom\n"),
            ".deliver: build.custom: required with tool: custom (and only then): the build "
            "command and its output",
        ),
        (
            VALID.replace(
                "  at: ~/build/hello\n",
                "  at: ~/build/hello\n  tool: custom\n  custom: {command: make}\n",
            ),
            ".deliver: build.custom: set one of release_dir (the assembled release) or tarball",
        ),
        (
            VALID.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  release: web\n"),
            ".deliver: build.release: 'web' differs from app 'hello': hosts run the release by "
            "its name (bin/<name>), so set only one of them",
        ),
        (
            VALID.replace(
                "      - web1.example.com\n", "      - web1.example.com\n      - web1.example.com\n"
            ),
            ".deliver: environments.production.hosts: host listed twice: web1.example.com",
        ),
        (
            VALID.replace("      - web1.example.com\n", "      - {host: web1, primary: yes}\n")
            + "        primary: true\n",
            ".deliver: environments.production.hosts: only one host can be primary, got web1, "
            "deploy@web2.example.com",
        ),
        (
            VALID.replace("      - web1.example.com\n", "      - {host: web1, primary: 1}\n"),
            ".deliver: environments.production.hosts[0].primary: expected true or false, got 1",
        ),
        (
            VALID + "migrations: {down: Hello.Release.rollback_all()}\n",
            ".deliver: migrations.down: must contain {version}: a rollback needs the version to "
            "go to",
        ),
        (
            VALID + "migrations: {sideways: x}\n",
            ".deliver: migrations.sideways: unknown key (expected one of: down, status, up)",
        ),
        (
            VALID + "health_check: {url: 127.0.0.1:4000}\n",
            ".deliver: health_check.url: expected an http:// or https:// URL, got '127.0.0.1:4000'",
        ),
        (
            VALID + "health_check: {url: 'http://x/', retries: 0}\n",
            ".deliver: health_check.retries: expected a whole number of at least 1, got 0",
        ),
        (
            VALID + "hot_upgrade: {policy: sometimes}\n",
            ".deliver: hot_upgrade.policy: expected one of always, patch-only, never, got "
            "'sometimes'",
        ),
        (
            VALID + "hot_upgrade: {when: never}\n",
            ".deliver: hot_upgrade.when: unknown key (expected one of: policy)",
        ),
        (
            VALID + "keep_releases: 2.5\n",
            ".deliver: keep_releases: expected a whole number of at least 1, got 2.5",
        ),
        (
            VALID + "linked_dirs: [uploads, ../etc]\n",
            ".deliver: linked_dirs[1]: expected a path inside the release (relative, without "
            "., .. or empty parts), got '../etc'",
        ),
        (
            VALID + "linked_files: /etc/passwd\n",
            ".deliver: linked_files: expected a list of paths, got '/etc/passwd'",
        ),
        (
            VALID + "link: {vm.args: ~/vm.args}\n",
            ".deliver: link.vm.args: unknown key (expected one of: runtime_exs, sys_config, "
            "vm_args)",
        ),
    ],
)
def test_invalid_files_name_the_key_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    expected = message.replace(".deliver:", f"{path}:", 1).replace("{dir}", str(tmp_path))
    assert str(error.value) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (VALID.replace("deliver_to:", "delivr_to:"), "did you mean deliver_to?"),
        (VALID.replace("build:", "biuld:"), "did you mean build?"),
        (VALID + "colour: blue\n", None),
    ],
)
def test_a_mistyped_key_gets_the_key_it_most_likely_meant(
    tmp_path: Path, text: str, hint: str | None
) -> None:
    with pytest.raises(ConfigError, match="unknown key") as error:
        load_config(write(tmp_path, text), environ={})
    assert error.value.hint == hint


def test_day_two_defaults_follow_the_phoenix_release_convention(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID.replace("app: hello", "app: my_shop")), environ={})
    assert config.migration_tasks() == Migrations(
        "MyShop.Release.migrate()",
        "MyShop.Release.rollback({version})",
        "MyShop.Release.migrations_status()",
    )
    assert config.keep_releases == 5
    assert config.health_check == HealthCheck(url=None, timeout=5, retries=3, interval=1)
    assert not config.links
    assert config.environment("production").primary.name == "web1.example.com"


def test_day_two_keys(tmp_path: Path) -> None:
    text = VALID + (
        "        primary: true\n"
        "keep_releases: 3\n"
        "migrations: {up: 'Shop.Tasks.up()'}\n"
        "health_check: {url: 'http://127.0.0.1:{PORT}/health', timeout: 2, retries: 5}\n"
        "linked_dirs: [uploads, tmp/log/]\n"
        "linked_files: [etc/app.conf]\n"
        "link: {vm_args: ~/vm.args, runtime_exs: /etc/hello/runtime.exs}\n"
    )
    config = load_config(write(tmp_path, text), environ={})
    assert config.environment("production").primary.name == "deploy@web2.example.com"
    assert config.keep_releases == 3
    assert config.migration_tasks() == Migrations(
        "Shop.Tasks.up()", "Hello.Release.rollback({version})", "Hello.Release.migrations_status()"
    )
    assert config.health_check == HealthCheck("http://127.0.0.1:{PORT}/health", 2, 5, 1)
    assert config.links == RuntimeLinks(
        ("uploads", "tmp/log"),
        ("etc/app.conf",),
        {"vm.args": "~/vm.args", "runtime.exs": "/etc/hello/runtime.exs"},
    )


def test_environment_variable_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^\$DELIVER_BUILD_HOST: build.host: expected"):
        load_config(write(tmp_path, VALID), environ={"DELIVER_BUILD_HOST": "a b"})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope", environ={})


def test_unknown_environment_lists_the_configured_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), environ={})
    with pytest.raises(
        ConfigError,
        match=r"environments.staging: no such environment "
        r"\(configured: production\)",
    ):
        config.environment("staging")


def test_build_section_required_only_to_build(tmp_path: Path) -> None:
    text = (
        VALID.split("environments:")[0].split("build:")[0]
        + "environments:"
        + VALID.split("environments:")[1]
    )
    config = load_config(write(tmp_path, text), environ={})
    with pytest.raises(ConfigError, match=r"build\.host: required to build"):
        config.require_build()


@pytest.mark.parametrize(
    ("text", "user", "host", "port"),
    [
        ("web1", None, "web1", None),
        ("deploy@10.0.0.5:2222", "deploy", "10.0.0.5", 2222),
        ("app@[::1]:22", "app", "::1", 22),
        ("my-alias.internal", None, "my-alias.internal", None),
    ],
)
def test_host_parsing(text: str, user: str | None, host: str, port: int | None) -> None:
    spec = HostSpec.parse(text)
    assert (spec.user, spec.hostname, spec.port, spec.name) == (user, host, port, text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("releases", "{dir}/releases"),
        ("/srv/releases", "/srv/releases"),
        ("./odd:name", "{dir}/odd:name"),
        ("store:releases", SshStoreSpec(HostSpec.parse("store"), "~/releases")),
        (
            "deploy@store.example.com:/srv/rel/",
            SshStoreSpec(HostSpec.parse("deploy@store.example.com"), "/srv/rel"),
        ),
        ("store:~/rel", SshStoreSpec(HostSpec.parse("store"), "~/rel")),
        (
            "ssh://deploy@store.example.com:2222/srv/rel",
            SshStoreSpec(HostSpec.parse("deploy@store.example.com:2222"), "/srv/rel"),
        ),
        ("ssh://store/~/rel", SshStoreSpec(HostSpec.parse("store"), "~/rel")),
        ("ssh://[::1]:22/rel", SshStoreSpec(HostSpec.parse("[::1]:22"), "/rel")),
        ("s3://my-bucket", S3StoreSpec("my-bucket")),
        ("s3://my.bucket/team/hello/", S3StoreSpec("my.bucket", "team/hello")),
    ],
)
def test_release_store_kinds(tmp_path: Path, value: str, expected: object) -> None:
    config = load_config(write(tmp_path, VALID + f"release_store: {value}\n"), environ={})
    if isinstance(expected, str):
        expected = Path(expected.format(dir=tmp_path))
    assert config.release_store == expected


def test_release_store_prints_as_written_back() -> None:
    assert str(SshStoreSpec(HostSpec.parse("deploy@store"), "~/rel")) == "deploy@store:~/rel"
    spec = SshStoreSpec(HostSpec.parse("deploy@store:2222"), "/srv/rel")
    assert str(spec) == "ssh://deploy@store:2222/srv/rel"
    assert str(S3StoreSpec("bucket", "a/b")) == "s3://bucket/a/b"
    assert str(S3StoreSpec("bucket")) == "s3://bucket"


def test_s3_settings_and_environment_override(tmp_path: Path) -> None:
    text = VALID + (
        "release_store: s3://releases/hello\n"
        "s3:\n  endpoint_url: http://127.0.0.1:8333/\n  region: eu-central-1\n"
        "  profile: ci\n  addressing_style: virtual\n"
    )
    config = load_config(write(tmp_path, text), environ={})
    assert config.release_store == S3StoreSpec(
        "releases", "hello", "http://127.0.0.1:8333", "eu-central-1", "ci", "virtual"
    )
    environ = {"DELIVER_RELEASE_STORE": "s3://other"}
    store = load_config(write(tmp_path, text), environ=environ).release_store
    assert isinstance(store, S3StoreSpec)
    assert (store.bucket, store.prefix, store.region) == ("other", "", "eu-central-1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "release_store: s3://My_Bucket\n",
            'release_store: expected "s3://bucket[/prefix]" with a bucket name of 3-63 '
            "lowercase letters, digits, dots and hyphens, got 's3://My_Bucket'",
        ),
        (
            "release_store: s3://\n",
            'release_store: expected "s3://bucket[/prefix]" with a bucket name of 3-63 '
            "lowercase letters, digits, dots and hyphens, got 's3://'",
        ),
        (
            "release_store: https://example.com/releases\n",
            "release_store: unsupported scheme https:// (expected a local path, "
            "[user@]host:path, ssh:// or s3://)",
        ),
        (
            "release_store: 'store:'\n",
            'release_store: expected "[user@]host:path" with a path after ":", got \'store:\'',
        ),
        (
            "release_store: a@b@store:/x\n",
            "release_store: expected \"[user@]host:path\", got 'a@b@store:/x'",
        ),
        (
            "release_store: ssh://store\n",
            "release_store: expected \"ssh://[user@]host[:port]/path\", got 'ssh://store'",
        ),
        (
            "release_store: ssh://store:99999/x\n",
            "release_store: expected \"ssh://[user@]host[:port]/path\", got 'ssh://store:99999/x'",
        ),
        ("release_store: [a]\n", "release_store: expected a non-empty string, got a list"),
        (
            "s3: {endpoint_url: 127.0.0.1:8333}\n",
            "s3.endpoint_url: expected \"http(s)://host[:port]\", got '127.0.0.1:8333'",
        ),
        (
            "s3: {addressing_style: dns}\n",
            "s3.addressing_style: expected one of auto, path, virtual, got 'dns'",
        ),
        (
            "s3: {bucket: x}\n",
            "s3.bucket: unknown key (expected one of: addressing_style, endpoint_url, profile, "
            "region)",
        ),
    ],
)
def test_invalid_release_stores(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, VALID + text)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert str(error.value) == f"{path}: {message}"


def test_the_shipped_example_is_valid() -> None:
    example = Path(__file__).parents[2] / ".deliver.example"
    secret_file = Path("~/secrets/my_app/prod.secret.exs").expanduser()  # in the test's HOME
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text("import Config\n")
    environ = {"PRODUCTION_DATABASE_URL": "postgres://x", "MY_APP_SECRET_KEY_BASE": "skb"}
    config = load_config(example, environ=environ)
    assert set(config.environments) == {"staging", "production"}
    assert config.environment("production").primary.name == "deploy@web1.example.com"
    assert config.migration_tasks().down == "MyApp.Release.rollback({version})"
    assert config.health_check.url == "http://127.0.0.1:{PORT}/health"
    assert config.links.overrides == {"vm.args": "~/my_app.vm.args"}
    assert [hook.point for hook in config.hooks] == [
        "pre_erlang_clean_compile",
        "pre_erlang_generate_release",
        "post_start_deployed_release",
        "post_git_push",
        "post_upgrade_release",
    ]
    assert config.hooks[-1].task == "warm_cache"
    assert config.tasks_file == example.parent / "deliver_tasks.py"


def test_hooks_in_every_form_and_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "copy.sh").write_text("#!/bin/sh\n")
    (tmp_path / "prod.secret.exs").write_text('import Config\nconfig :hello, key: "k3y"\n')
    text = VALID + (
        "hooks:\n"
        "  pre_compile: mix format --check-formatted\n"
        "  post_start_deployed_release:\n"
        "    - {run: curl -fsS localhost/health, runs_on: local}\n"
        "    - script: hooks/copy.sh\n"
        "      env: {SECRET: {file: prod.secret.exs}, MODE: plain}\n"
    )
    config = load_config(write(tmp_path, text), environ={})
    first, second, third = config.hooks
    assert (first.point, first.run, first.runs_on) == (
        "pre_erlang_clean_compile",
        "mix format --check-formatted",
        "build",
    )
    assert first.source == ".deliver: hooks.pre_compile"
    assert (second.point, second.runs_on) == ("post_start_deployed_release", "local")
    assert second.source.endswith("hooks.post_start_deployed_release[0]")
    assert (third.script, third.runs_on) == (tmp_path / "hooks" / "copy.sh", "deploy")
    assert third.env["SECRET"] == Secret('import Config\nconfig :hello, key: "k3y"')
    assert config.secrets() == [third.env["SECRET"]]
    assert config.tasks_file == tmp_path / "deliver_tasks.py"  # the default


def test_a_hook_may_name_a_custom_task_kept_where_tasks_says(tmp_path: Path) -> None:
    text = VALID + "tasks: ops/team_tasks.py\nhooks: {post_start: {task: warm_cache}}\n"
    config = load_config(write(tmp_path, text), environ={})
    (hook,) = config.hooks
    assert (hook.point, hook.task, hook.runs_on) == (
        "post_start_deployed_release",
        "warm_cache",
        "deploy",
    )
    assert config.tasks_file == tmp_path / "ops" / "team_tasks.py"


def test_build_tool_custom_auto_version_and_localhost(tmp_path: Path) -> None:
    text = VALID.replace("builder@build.example.com:2222", "localhost").replace(
        "  at: ~/build/hello\n",
        "  at: ~/build/hello\n  tool: custom\n  auto_version: git-revision+branch\n"
        "  custom:\n    command: ./build.sh\n    tarball: _build/{mix_env}/{app}-*.tar.gz\n",
    )
    build = load_config(write(tmp_path, text), environ={}).require_build()
    assert build.host.is_local
    assert build.custom is not None
    assert (build.custom.command, build.custom.tarball, build.custom.release_type) == (
        "./build.sh",
        "_build/{mix_env}/{app}-*.tar.gz",
        "mix",
    )
    assert build.auto_version == "git-revision+branch"
    environ = {"AUTO_VERSION": "date", "DELIVER_AUTO_VERSION": "commit-count"}
    assert load_config(write(tmp_path, text), environ=environ).require_build().auto_version == (
        "commit-count"
    )
    assert not HostSpec.parse("user@localhost").is_local
    assert not HostSpec.parse("localhost:22").is_local


def test_umbrella_release_names_the_app(tmp_path: Path) -> None:
    text = VALID.replace("app: hello\n", "").replace(
        "  at: ~/build/hello\n", "  at: ~/build/hello\n  release: shop_web\n"
    )
    config = load_config(write(tmp_path, text), environ={})
    assert config.app == "shop_web"
    assert config.require_build().release_name(config.app) == "shop_web"


def test_a_named_ssh_config_that_is_missing_is_named_as_missing(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "ssh:\n  config: ~/.ssh/config.d/deploy\n")
    with pytest.raises(ConfigError, match=r"ssh.config: no such file: .*config.d/deploy"):
        load_config(path, environ={})


def test_the_default_ssh_config_may_be_absent(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, VALID), environ={}).ssh.config_file is None


def test_an_unset_secret_fails_only_the_commands_that_need_it(tmp_path: Path) -> None:
    text = VALID.replace('{PORT: "4001"}', '{PORT: "${NOPE}"}')
    text += "  staging:\n    deliver_to: /srv/s\n    hosts: [web9]\n"
    text = text.replace("  at: ~/build/hello\n", "  at: ~/build/hello\n  env: {K: '${KEY}'}\n")
    path = write(tmp_path, text)
    config = load_config(path, environ={})  # show releases, for one, needs none of them
    assert config.environment("staging").hosts[0].name == "web9"
    with pytest.raises(ConfigError) as production:
        config.environment("production")
    assert str(production.value) == (
        f"{path}: environments.production.hosts[1].env.PORT: ${{NOPE}} is not set in the "
        "local environment"
    )
    with pytest.raises(ConfigError, match=r"build.env.K: \$\{KEY\} is not set"):
        config.require_build()
    resolved = load_config(path, environ={"NOPE": "4001", "KEY": "k"})
    assert str(resolved.environment("production").hosts[1].env["PORT"]) == "****"


def test_parallel_handshakes_from_the_file_the_environment_and_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_config(path, environ={}).ssh.parallel == 32
    path.write_text(VALID + "ssh: {parallel: 8}\n")
    assert load_config(path, environ={}).ssh.parallel == 8
    assert load_config(path, environ={"DELIVER_PARALLEL": "16"}).ssh.parallel == 16
    flag = Overrides(parallel=4)
    assert load_config(path, environ={"DELIVER_PARALLEL": "16"}, overrides=flag).ssh.parallel == 4
    for bad in ("0", "many", "2.5"):
        with pytest.raises(ConfigError) as refused:
            load_config(path, environ={"DELIVER_PARALLEL": bad})
        assert str(refused.value).startswith(
            "$DELIVER_PARALLEL: ssh.parallel: expected a whole number of at least 1"
        ), str(refused.value)


def test_a_missing_example_hook_is_refused_with_the_command_that_copies_it(
    tmp_path: Path,
) -> None:
    """.deliver.example copied as the README says names deliver's example hooks: the error
    says how to copy each from the installed package, and doing so gets past it."""
    (tmp_path / "mix.exs").write_text((REPO / "examples/hello/mix.exs").read_text())
    shutil.copy(REPO / ".deliver.example", tmp_path / ".deliver")
    secret = Path.home() / "secrets/my_app/prod.secret.exs"  # the example's secret file
    secret.parent.mkdir(parents=True)
    secret.write_text("import Config\n")
    seen = []
    for _ in range(3):
        result = run_cli("--config", tmp_path / ".deliver", "check", "config")
        hint = re.search(r"hint: it is one of deliver's example hooks: (.*)\n", result.stderr)
        if hint is None:
            break
        seen.append(hint.group(1))
        subprocess.run(["sh", "-c", hint.group(1)], check=True)
    assert len(seen) == 2, seen  # copy_secret_file, then phoenix_assets
    assert "no such file" not in result.stderr, result.stderr
    for name in ("copy_secret_file", "phoenix_assets"):
        assert (tmp_path / "hooks" / name).read_bytes() == (REPO / "hooks" / name).read_bytes()
