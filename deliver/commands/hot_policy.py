"""When an upgrade must not be hot: what a hot upgrade cannot do (a changed native library, a
supervision tree that may have changed shape, another ERTS) and what the user's
`hot_upgrade.policy` rules out. `deliver upgrade --fallback=restart` restarts into the new
release instead, health-gated, batch by batch."""

from __future__ import annotations

import re

from deliver.config import HotUpgrade
from deliver.errors import UsageError
from deliver.release import Release

#: The fallback `deliver upgrade` knows.
FALLBACKS = ("restart",)


class NotHot(UsageError):
    """The upgrade cannot (or by policy must not) be installed hot; nothing was touched."""

    def __init__(self, upgrade: Release, reasons: list[str], environment: str) -> None:
        self.reasons = reasons
        super().__init__(
            f"{', '.join(upgrade.from_versions)} -> {upgrade.version} cannot be hot: "
            f"{'; '.join(reasons)}",
            hint=f"deliver upgrade {environment} --fallback=restart restarts the nodes into "
            f"{upgrade.version} instead, batch by batch, health-checked",
        )


def reasons_not_hot(upgrade: Release, policy: HotUpgrade) -> list[str]:
    """Why `upgrade` must not be installed hot (empty: it may)."""
    reasons = []
    if policy.policy == "never":
        reasons.append("hot_upgrade.policy is never")
    elif policy.policy == "patch-only":
        reasons += [
            f"hot_upgrade.policy is patch-only and {old} -> {upgrade.version} changes more "
            "than the patch version"
            for old in upgrade.from_versions
            if not is_patch(old, upgrade.version)
        ]
    if upgrade.changed_nifs:
        reasons.append(
            f"native libraries changed in {', '.join(upgrade.changed_nifs)} (the loaded ones "
            "would stay)"
        )
    if upgrade.changed_supervisors:
        reasons.append(
            f"supervision tree modules changed ({', '.join(upgrade.changed_supervisors)}): a "
            "hot upgrade does not start or stop their children (your own appup in rel/appups "
            "says how, if it can)"
        )
    return reasons


_CORE = re.compile(r"\A(\d+)\.(\d+)(?:\.(\d+))?")


def is_patch(old: str | None, new: str) -> bool:
    """Whether old -> new keeps the major and minor versions (0.2.0 -> 0.2.1)."""
    before, after = _CORE.match(old or ""), _CORE.match(new)
    return bool(before and after and before.groups()[:2] == after.groups()[:2])
