"""The pure half of `deliver import edeliver` (config/edeliver.py, edeliver_hooks.py): what
sourcing recorded, mapped to deliver's config, without bash."""

from __future__ import annotations

import pytest

from deliver.config.edeliver import Call, Evaluation, HookRun, Sourced
from deliver.config.edeliver_hooks import convert

BASE = {
    "APP": "shop",
    "BUILD_HOST": "build.example.com",
    "BUILD_USER": "builder",
    "BUILD_AT": "/b/shop",
    "PRODUCTION_HOSTS": "web1",
    "PRODUCTION_USER": "web",
    "DELIVER_TO": "/srv",
}


def evaluation(
    values: dict[str, str] | None = None,
    runs: tuple[HookRun, ...] = (),
    functions: dict[str, str] | None = None,
) -> Evaluation:
    variables = {**BASE, **(values or {})}
    sourced = {
        env: Sourced(env, variables, functions or {r.function: "" for r in runs})
        for env in ("staging", "production")
    }
    return Evaluation("config", "", sourced, runs)


def notes_of(result: object) -> str:
    return "\n".join(f"{n.subject}: {n.text}" for n in result.notes)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("store", "expected", "note"),
    [
        ("builder@store.example.com:/releases", "builder@store.example.com:/releases", None),
        ("s3://bucket/prefix", "s3://bucket/prefix", None),
        ("s3://KEY:SECRET@bucket/prefix", "s3://bucket/prefix", "credentials in the s3:// URL"),
        ("/var/releases", "/var/releases", None),
        ("ftp", None, "'ftp' is no store deliver knows"),
    ],
)
def test_release_stores(store: str, expected: str | None, note: str | None) -> None:
    result = convert(evaluation({"RELEASE_STORE": store}))
    assert result.data.get("release_store") == expected
    assert "SECRET" not in result.yaml("config")
    if note:
        assert note in notes_of(result)


def test_an_auto_version_deliver_does_not_know_is_reported_not_written() -> None:
    result = convert(evaluation({"AUTO_VERSION": "commit-count+moon-phase"}))
    assert "auto_version" not in result.data["build"]
    assert "AUTO_VERSION: not translated: unknown part 'moon-phase'" in notes_of(result)


def test_an_ecto_repository_that_is_no_module_is_not_pasted_into_elixir() -> None:
    result = convert(evaluation({"ECTO_REPOSITORY": 'Repo"); System.halt(1); ("'}))
    assert "migrations" not in result.data
    assert "is no Elixir module name" in notes_of(result)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("cd '/srv/shop/releases'\n", "cd \"$DELIVER_TO\"'/releases'\n"),
        ("cd '/srv/shop'\n", 'cd "$DELIVER_TO"\n'),
        ('cd "/srv/shop/bin"\n', 'cd "$DELIVER_TO/bin"\n'),
        ('echo "it\'s in /srv/shop"\n', 'echo "it\'s in $DELIVER_TO"\n'),
        ("/srv/shop/bin/shop rpc x\n", '"$DELIVER_TO"/bin/shop rpc x\n'),
        ("ls /srv/other\n", "ls /srv/other\n"),
        ("ls /srv/shopping\n", "ls /srv/shopping\n"),
    ],
)
def test_edelivers_release_root_in_deploy_hooks_becomes_delivers(
    script: str, expected: str
) -> None:
    run = HookRun("post_extract_release_archive", "prod", (Call("__remote", (script,)),))
    result = convert(evaluation(runs=(run,)))
    assert result.data["hooks"]["post_extract_release_archive"] == [{"run": expected}]


def test_status_and_error_lines_and_the_order_of_remote_and_local_commands() -> None:
    calls = (
        Call("status", ("Preparing",)),
        Call("__sync_remote", ("  cd '/b/shop'\n  make\n",)),
        Call("exec", ("notify-send", "built it")),
        Call("error", ("stop here",)),
    )
    result = convert(evaluation(runs=(HookRun("post_erlang_clean_compile", "prod", calls),)))
    assert result.data["hooks"]["post_erlang_clean_compile"] == [
        {"run": 'echo Preparing\ncd "$BUILD_AT"\nmake\n'},
        {"run": "notify-send 'built it'", "runs_on": "local"},
        {"run": "echo 'stop here' >&2; exit 1"},
    ]


def test_a_hook_with_only_status_lines_is_dropped_and_said() -> None:
    run = HookRun("pre_git_push", "prod", ())
    result = convert(evaluation(runs=(run,)))
    assert "hooks" not in result.data
    assert "pre_git_push: does nothing deliver needs" in notes_of(result)
