"""What a command touches: the environment, its hosts (or those named), the store and one
connection per host, opened once for the whole command.
"""

from __future__ import annotations

from collections.abc import Sequence

from deliver.config import Environment, HostSpec
from deliver.errors import UsageError


def select_hosts(environment: Environment, wanted: Sequence[str] = ()) -> list[HostSpec]:
    """The environment's hosts, or those named by --host (by address or host name)."""
    if not wanted:
        return list(environment.hosts)
    names = [name.strip() for item in wanted for name in item.split(",") if name.strip()]
    chosen = []
    for name in names:
        matches = [h for h in environment.hosts if name in (h.name, h.hostname)]
        if not matches:
            known = ", ".join(h.name for h in environment.hosts)
            raise UsageError(f"--host {name}: not a host of {environment.name} ({known})")
        chosen += [h for h in matches if h not in chosen]
    return chosen
