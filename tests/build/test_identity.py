"""Which builds are the same build: the store's rule for reusing, keeping and refusing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deliver.build.identity import Build, DifferentBuild, keep_stored, same_build
from deliver.errors import ManifestInvalid
from deliver.release import Release

STORED = Release(
    "hello",
    "0.1.0",
    "a" * 40,
    "main",
    "mix",
    "2026-01-01T00:00:00Z",
    "0" * 64,
    1,
    mix_env="prod",
)
SAME = Build("0.1.0", "a" * 40, "mix", "prod")


@pytest.mark.parametrize(
    ("build", "same"),
    [
        (SAME, True),
        (replace(SAME, sha256="1" * 64), True),  # a rebuild of the commit: bytes may differ
        (replace(SAME, commit="b" * 40), False),  # a teammate's other commit
        (replace(SAME, tool="rebar3"), False),
        (replace(SAME, mix_env="staging"), False),
        (replace(SAME, dirty=True), False),  # the tree held more than the commit
        (replace(SAME, commit="b" * 40, sha256="0" * 64), True),  # equal bytes: equal builds
    ],
)
def test_a_build_is_the_same_when_commit_tool_and_mix_env_are(build: Build, same: bool) -> None:
    assert same_build(STORED, build) is same


def test_a_stored_build_that_is_dirty_or_of_unknown_mix_env_is_never_the_same() -> None:
    assert not same_build(replace(STORED, dirty=True), SAME)
    assert not same_build(replace(STORED, mix_env=None), SAME)  # written by an older deliver


def test_the_store_keeps_the_same_build_and_refuses_another_unless_forced() -> None:
    assert keep_stored(None, SAME, force=False, location="store") is False
    assert keep_stored(STORED, SAME, force=False, location="store") is True
    assert keep_stored(STORED, SAME, force=True, location="store") is False  # --force rebuilds
    other = replace(SAME, commit="b" * 40, sha256="2" * 64)
    assert keep_stored(STORED, other, force=True, location="store") is False  # replaced
    with pytest.raises(DifferentBuild) as refused:
        keep_stored(STORED, other, force=False, location="store")
    assert str(refused.value) == (
        "hello 0.1.0 is already in store as a different build: stored commit aaaaaaaaaa "
        "(sha256 0000000000000000, mix, MIX_ENV=prod), this build commit bbbbbbbbbb "
        "(sha256 2222222222222222, mix, MIX_ENV=prod)"
    )
    hint = refused.value.hint or ""
    for way_out in ("--increment-version", "--force", "deliver deploy release --force"):
        assert way_out in hint


def test_a_build_not_made_yet_and_a_dirty_one_say_so() -> None:
    assert replace(SAME, commit="c" * 40, dirty=True).describe() == (
        "commit cccccccccc, dirty tree (not built yet, mix, MIX_ENV=prod)"
    )


def test_the_manifest_records_mix_env_and_dirtiness_and_checks_them() -> None:
    dirty = replace(STORED, dirty=True)
    assert Release.from_json(dirty.to_json()) == dirty
    old = STORED.to_json().replace('"mix_env": "prod"', '"mix_env": null')
    assert Release.from_json(old).mix_env is None
    with pytest.raises(ManifestInvalid, match=r"^dirty: expected true or false, got 'yes'"):
        replace(STORED, dirty="yes")  # type: ignore[arg-type]
    with pytest.raises(ManifestInvalid, match=r"^mix_env: expected a MIX_ENV"):
        replace(STORED, mix_env="prod; rm -rf /")
