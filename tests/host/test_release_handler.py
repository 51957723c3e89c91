"""The hot-upgrade preflight's judgement of the build a node runs (host/release_handler.py):
pure, table-driven; the sandbox tests in tests/commands/test_hot_preflight.py run it on hosts."""

from __future__ import annotations

import pytest

from deliver.host.release_handler import NodeCheck, build_problem
from deliver.release import Release

OLD_COMMIT, OLD_SHA = "1" * 40, "a" * 64


def upgrade(**fields: object) -> Release:
    values: dict[str, object] = {
        "app": "hello",
        "version": "0.3.0",
        "commit": "3" * 40,
        "branch": None,
        "tool": "mix",
        "built_at": "2026-01-01T00:00:00Z",
        "sha256": "c" * 64,
        "size": 1,
        "kind": "upgrade",
        "from_version": "0.1.0",
        "from_commit": OLD_COMMIT,
        "from_sha256": OLD_SHA,
        "also_from": ("0.2.0 " + "2" * 40 + " " + "b" * 64,),
    }
    return Release(**(values | fields))  # type: ignore[arg-type]


def node(version: str, directory: str = "0.1.0") -> NodeCheck:
    return NodeCheck(
        "web1", "/srv/app", f"/srv/app/releases/{directory}", "mix", version, "42", False
    )


@pytest.mark.parametrize(
    ("check", "answers", "problem"),
    [
        # the directory's own release, the build the upgrade is from
        (node("0.1.0"), {"DIR_SHA256": OLD_SHA, "DIR_COMMIT": OLD_COMMIT}, None),
        # the same version, another archive (a rebuild of that commit, or another commit)
        (node("0.1.0"), {"DIR_SHA256": "d" * 64, "DIR_COMMIT": OLD_COMMIT}, "from archive dddd"),
        (node("0.1.0"), {"DIR_SHA256": OLD_SHA, "DIR_COMMIT": "9" * 40}, "commit 9999999999"),
        # a release deployed before deliver recorded builds: not held against it
        (node("0.1.0"), {}, None),
        # a hot step: the commit the step recorded, against the upgrade's other from-build
        (node("0.2.0"), {"RUN_COMMIT": "2" * 40, "DIR_SHA256": OLD_SHA}, None),
        (node("0.2.0"), {"RUN_COMMIT": "8" * 40}, "built from commit 8888888888"),
    ],
)
def test_the_node_must_run_the_build_the_upgrade_is_from(
    check: NodeCheck, answers: dict[str, str], problem: str | None
) -> None:
    found = build_problem(upgrade(), check, answers)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert "deliver build upgrade --from=" in found
