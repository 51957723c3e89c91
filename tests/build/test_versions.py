"""Versions from git: each --auto-version part, increments, set versions, and the refusal of a
stored version built from another commit; then real builds that carry them."""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deliver.build.versions import VersionOptions, plan_version
from deliver.cli.options import parse_versions
from deliver.errors import UsageError
from deliver.sandbox import Sandbox
from deliver.tools.mix import MIX_VERSION
from tests.conftest import BuiltApp, git, make_app_repo, run_cli, write_config

CLOCK = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hello 0.1.0 with three commits on main and one on feature/login-form (read only)."""
    repo = make_app_repo(tmp_path_factory.mktemp("versions") / "hello")
    for name in ("a", "b"):
        (repo / name).write_text(name)
        git(repo, "add", name)
        git(repo, "commit", "-qm", name)
    git(repo, "checkout", "-qb", "feature/login-form")
    (repo / "c").write_text("c")
    git(repo, "add", "c")
    git(repo, "commit", "-qm", "c")
    git(repo, "checkout", "-q", "main")
    return repo


def version(repo: Path, auto: str | None = None, branch: str = "main", **options: str) -> str:
    commit = git(repo, "rev-parse", branch)
    parsed = parse_versions(auto, options.get("increment"), options.get("set_to"))
    plan = plan_version(repo, commit, branch, MIX_VERSION, parsed, CLOCK)
    assert plan.version is not None
    return plan.version


@pytest.mark.parametrize(
    ("auto", "expected"),
    [
        ("revision", "0.1.0+{main7}"),
        ("git-revision", "0.1.0+{main7}"),
        ("commit-count", "0.1.0+4"),  # across all branches
        ("commit-count-branch", "0.1.0+3"),
        ("branch", "0.1.0+main"),
        ("branch-unless-main", "0.1.0"),
        ("date", "0.1.0+20260314"),
        ("time", "0.1.0+150926"),
        ("commit-count+revision+branch", "0.1.0+4-{main7}-main"),
        ("build-date+git-branch-unless-master", "0.1.0+20260314"),
    ],
)
def test_auto_version_parts(repo: Path, auto: str, expected: str) -> None:
    main7 = git(repo, "rev-parse", "main")[:7]
    assert version(repo, auto) == expected.format(main7=main7)


def test_branch_names_become_version_metadata(repo: Path) -> None:
    feature7 = git(repo, "rev-parse", "feature/login-form")[:7]
    assert version(repo, "branch-unless-main", "feature/login-form") == "0.1.0+feature-login-form"
    assert version(repo, "commit-count-branch+revision", "feature/login-form") == (
        f"0.1.0+4-{feature7}"
    )


def test_increment_and_set_version(repo: Path) -> None:
    assert version(repo, increment="major") == "1.0.0"
    assert version(repo, increment="minor") == "0.2.0"
    assert version(repo, increment="patch") == "0.1.1"
    assert version(repo, "commit-count", increment="patch") == "0.1.1+4"
    assert version(repo, set_to="2.0.0-rc.1") == "2.0.0-rc.1"
    assert version(repo, "date", set_to="2.0.0") == "2.0.0+20260314"


def test_version_is_patched_where_the_project_keeps_it(tmp_path: Path) -> None:
    repo = make_app_repo(tmp_path / "hello")
    mix = repo / "mix.exs"
    text = mix.read_text().replace('version: "0.1.0"', "version: @version")
    mix.write_text('defmodule V do\n  @version "1.4.2"\nend\n' + text)
    git(repo, "commit", "-qam", "@version")
    commit = git(repo, "rev-parse", "HEAD")
    plan = plan_version(repo, commit, "main", MIX_VERSION, VersionOptions(increment="minor"))
    assert plan.version == "1.5.0"
    assert plan.patches["mix.exs"] == mix.read_text().replace('"1.4.2"', '"1.5.0"')
    assert plan_version(repo, commit, "main", MIX_VERSION, VersionOptions()).patches == {}


@pytest.mark.parametrize(
    ("auto", "increment", "set_to", "message"),
    [
        ("rev", None, None, "--auto-version: unknown part 'rev' (expected revision, "),
        (None, "patch", "1.0.0", "give only one of --increment-version and --set-version"),
        (None, "tiny", None, "--increment-version: expected one of major, minor, patch"),
        (None, None, "1.0 beta", "--set-version: '1.0 beta' is not a usable version"),
    ],
)
def test_bad_version_options(
    auto: str | None, increment: str | None, set_to: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        parse_versions(auto, increment, set_to)


def test_a_version_needs_a_literal_in_mix_exs(tmp_path: Path) -> None:
    repo = make_app_repo(tmp_path / "hello")
    mix = repo / "mix.exs"
    mix.write_text(mix.read_text().replace('version: "0.1.0"', "version: version()"))
    git(repo, "commit", "-qam", "computed version")
    commit = git(repo, "rev-parse", "HEAD")
    with pytest.raises(UsageError, match="cannot find the project's version at"):
        plan_version(repo, commit, "main", MIX_VERSION, VersionOptions(auto=("revision",)))
    plan = plan_version(repo, commit, "main", MIX_VERSION, VersionOptions(set_to="3.0.0"))
    assert (plan.version, plan.patches) == ("3.0.0", {})


@pytest.mark.slow
def test_builds_carry_the_version_without_touching_the_sources(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused")
    commit = git(repo, "rev-parse", "HEAD")
    result = run_cli(
        "--config",
        config,
        "build",
        "release",
        "--auto-version=commit-count+revision+branch+date",
        "--increment-version=minor",
    )
    assert result.exit_code == 0, result.output
    today = datetime.now(UTC).strftime("%Y%m%d")
    expected = f"0.2.0+1-{commit[:7]}-main-{today}"
    assert f"Setting version {expected} in the build tree (mix.exs)" in result.stdout
    store = repo / ".deliver-releases"
    manifest = json.loads((store / f"hello_{expected}.release.json").read_text())
    assert (manifest["version"], manifest["commit"]) == (expected, commit)
    with tarfile.open(store / f"hello_{expected}.release.tar.gz") as tar:
        start_erl = tar.extractfile("./releases/start_erl.data")
        assert start_erl is not None and start_erl.read().decode().split()[1] == expected
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""  # sources untouched
    assert 'version: "0.1.0"' in (repo / "mix.exs").read_text()

    # build.auto_version is the default, and appends to --set-version
    config.write_text(
        config.read_text().replace(
            "  at: ~/build/hello\n", "  at: ~/build/hello\n  auto_version: revision\n"
        )
    )
    result = run_cli("--config", config, "build", "release", "--set-version=2.0.0")
    assert result.exit_code == 0, result.output
    shown = run_cli("--config", config, "show", "releases").stdout.split()
    assert f"2.0.0+{commit[:7]}" in shown and expected in shown


@pytest.mark.slow
def test_existing_version_from_another_commit_is_refused_before_building(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(built_app.store, store)
    repo = make_app_repo(tmp_path / "hello")  # the same app, another commit, same version
    config = write_config(repo / ".deliver", sandbox, deliver_to="~/unused", store=store)
    stored = git(built_app.repo, "rev-parse", "HEAD")

    refused = run_cli("--config", config, "build", "release")
    assert refused.exit_code == 2
    assert (
        f"error: hello 0.1.0 is already in {store} as a different build: stored commit "
        f"{stored[:10]} (sha256 " in refused.stderr
    )
    assert f"this build commit {git(repo, 'rev-parse', 'HEAD')[:10]} (not built yet" in (
        refused.stderr
    )
    assert "--force" in refused.stderr and "Preparing build directory" not in refused.stdout

    forced = run_cli("--config", config, "build", "release", "--force")
    assert forced.exit_code == 0, forced.output
    manifest = json.loads((store / "hello_0.1.0.release.json").read_text())
    assert manifest["commit"] == git(repo, "rev-parse", "HEAD")
