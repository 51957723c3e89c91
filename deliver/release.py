"""The Release value: what was built, from which commit, and how to recognise its archive."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

_VERSION_PART = re.compile(r"(\d+)|(\D+)")


@dataclass(frozen=True)
class Release:
    app: str
    version: str
    commit: str
    branch: str | None
    tool: str
    built_at: str
    sha256: str
    size: int
    kind: str = "release"
    # an upgrade (kind "upgrade") is from one version to `version`, and says which appups
    # deliver generated and which consolidated protocols stay old until a restart
    from_version: str | None = None
    from_commit: str | None = None
    generated_appups: tuple[str, ...] = ()
    changed_protocols: tuple[str, ...] = ()

    @property
    def archive_name(self) -> str:
        return archive_name(self.app, self.version, self.kind)

    @property
    def manifest_name(self) -> str:
        return self.archive_name.removesuffix(".tar.gz") + ".json"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Release:
        data: dict[str, Any] = json.loads(text)
        fields = set(cls.__dataclass_fields__)
        # JSON has lists where the dataclass keeps tuples
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in data.items()
            if key in fields
        }
        return cls(**values)


def archive_name(app: str, version: str, kind: str = "release") -> str:
    """edeliver's store names: `<app>_<version>.release.tar.gz` / `.upgrade.tar.gz`."""
    return f"{app}_{version}.{kind}.tar.gz"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders 0.10.0 after 0.9.0 and a release before its pre-release tags."""
    core, _, pre = version.partition("-")
    parts: list[tuple[int, int | str]] = []
    for number, text in _VERSION_PART.findall(core):
        parts.append((1, int(number)) if number else (0, text))
    parts.append((0, pre) if pre else (1, 0))
    return tuple(parts)
