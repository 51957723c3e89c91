"""The release handler's install of a hot upgrade (set_unpacked, install_release,
make_permanent) made over the node's Erlang distribution (host/dist.py), where the tool gives
them as code for the node: no VM is booted on the host (`bin/<app> rpc`) to pass them on.

It returns what release_handler.py reads from the start script's answer (KEY=value lines
and the release handler's words), or None when the distribution cannot be reached: then the
start script is asked, as before. A node that hangs up during install_release (an upgrade
that restarts the emulator) gives no verdict here: the caller asks the node what it runs.
"""

from __future__ import annotations

import time

from deliver.host.dist import evaluate_in_node
from deliver.tools import hot_upgrades
from deliver.transport.remote import Remote

#: Seconds install_release or its check may run inside the node (loading, code_change).
CALL_TIMEOUT = 600.0

Answer = tuple[dict[str, str], str]


def install_by_node(remote: Remote, root: str, tool: str, app: str, version: str) -> Answer | None:
    """Install `version` (set_unpacked, install_release, make_permanent) in the node of
    `root/running`: MS= (how long it took) and STATE=installed when the node said so."""
    code = hot_upgrades(tool).install_code(app, version)
    started = time.monotonic()
    said = _evaluate(remote, root, tool, app, code)
    if said is None:
        return None
    values = {"MS": str(int((time.monotonic() - started) * 1000))}
    return _marked(values, said, "INSTALLED", version, "installed")


def _evaluate(
    remote: Remote, root: str, tool: str, app: str, code: str | None
) -> tuple[bool, str] | None:
    if code is None:
        return None
    return evaluate_in_node(remote, root, tool, app, code, CALL_TIMEOUT)


def _marked(
    values: dict[str, str], said: tuple[bool, str], key: str, version: str, state: str
) -> Answer:
    """STATE=`state` when the call succeeded and printed `key`=`version`; the rest of what it
    printed (or its error) is the release handler's words."""
    succeeded, text = said
    lines = text.splitlines()
    if succeeded and f"{key}={version}" in lines:
        values = {**values, "STATE": state}
    return values, "\n".join(line for line in lines if not line.startswith(f"{key}="))
