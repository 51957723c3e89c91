"""When an upgrade must not be hot (commands/hot_policy.py): pure logic, no hosts."""

from __future__ import annotations

import pytest

from deliver.commands.hot_policy import NotHot, is_patch, reasons_not_hot
from deliver.config import HotUpgrade
from deliver.release import Release


def upgrade(old: str = "0.2.0", new: str = "0.2.1", **fields: tuple[str, ...]) -> Release:
    return Release(
        app="hello",
        version=new,
        commit="a" * 40,
        branch=None,
        tool="mix",
        built_at="2026-01-01T00:00:00Z",
        sha256="b" * 64,
        size=1,
        kind="upgrade",
        from_version=old,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ("0.2.0", "0.2.1", True),
        ("0.2.9", "0.2.10", True),
        ("1.4", "1.4.1", True),
        ("0.2.1", "0.3.0", False),
        ("1.9.9", "2.0.0", False),
        ("0.2.0", "0.2.1-rc.1", True),
        ("abc", "0.2.1", False),
        (None, "0.2.1", False),
    ],
)
def test_a_patch_upgrade_keeps_major_and_minor(old: str | None, new: str, patch: bool) -> None:
    assert is_patch(old, new) is patch


def test_the_policy_and_what_a_hot_upgrade_cannot_do() -> None:
    assert reasons_not_hot(upgrade(), HotUpgrade()) == []
    assert reasons_not_hot(upgrade(), HotUpgrade("patch-only")) == []
    assert reasons_not_hot(upgrade(), HotUpgrade("never")) == ["hot_upgrade.policy is never"]
    (minor,) = reasons_not_hot(upgrade("0.2.1", "0.3.0"), HotUpgrade("patch-only"))
    assert "0.2.1 -> 0.3.0 changes more than the patch version" in minor
    nif, tree = reasons_not_hot(
        upgrade(changed_nifs=("crypto_nif",), changed_supervisors=("Elixir.Hello.Sup",)),
        HotUpgrade(),
    )
    assert nif.startswith("native libraries changed in crypto_nif")
    assert tree.startswith("supervision tree modules changed (Elixir.Hello.Sup)")


def test_the_refusal_says_why_and_how_to_go_instead() -> None:
    error = NotHot(upgrade(), ["hot_upgrade.policy is never"], "production")
    assert str(error) == "0.2.0 -> 0.2.1 cannot be hot: hot_upgrade.policy is never"
    assert error.hint is not None and "deliver upgrade production --fallback=restart" in error.hint


def test_an_upgrade_that_restarts_the_emulator_may_be_hot() -> None:
    # whether the nodes come back (heart) is asked of each host in preflight
    restarting = Release.from_json(
        upgrade().to_json().replace('"restarts_emulator": false', '"restarts_emulator": true')
    )
    assert restarting.restarts_emulator
    assert reasons_not_hot(restarting, HotUpgrade()) == []
    assert reasons_not_hot(restarting, HotUpgrade(policy="never")) == [
        "hot_upgrade.policy is never"
    ]
