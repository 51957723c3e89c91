"""Importing paramiko without invoke: the one place deliver's process first imports paramiko.

paramiko.config imports invoke at module level, only to run the `Match exec` lines of an
ssh_config. invoke in turn imports asyncio and unittest.mock: measured on the sandbox hosts,
importing paramiko took 0.29 s with it and 0.13 s without, most of a one-host `deliver ping`'s
client CPU. So paramiko is imported with invoke held back, and paramiko.config is given
`_InvokeOnDemand`, which imports invoke (an ordinary dependency, through fabric) the first time
a `Match exec` line is evaluated: an ssh_config with one behaves as before.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


class _InvokeOnDemand:
    """Stands for the invoke module inside paramiko.config: `run` imports it on first use."""

    def run(self, command: str, **options: Any) -> Any:
        import invoke

        return invoke.run(command, **options)


def load() -> ModuleType:
    """The paramiko package, imported (once per process) without importing invoke; also when
    something imported invoke first, in which case paramiko simply uses it."""
    if "paramiko" in sys.modules:
        loaded: ModuleType = sys.modules["paramiko"]
        return loaded
    held_back = "invoke" not in sys.modules
    if held_back:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` now raises
    try:
        import paramiko
        import paramiko.config
    finally:
        if held_back:
            del sys.modules["invoke"]
    if paramiko.config.invoke is None:
        paramiko.config.invoke = _InvokeOnDemand()
    module: ModuleType = paramiko
    return module
