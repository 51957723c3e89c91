"""What one deploy host runs right now, for the per-host state table a command prints after a
failure or a Ctrl-C (commands/report.py): the release `current` names, the one the node was
started from, and whether that node answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from deliver.errors import DeliverError, NodeError
from deliver.host.layout import in_root, read_state
from deliver.tools import node_commands
from deliver.transport.remote import Remote


@dataclass(frozen=True)
class HostNow:
    """One row of the state table; `problem` says why a host could not be asked (then the
    versions are unknown and `up` is None)."""

    name: str
    current: str | None = None
    running: str | None = None  # what the node was started from, None when nothing is
    up: bool | None = None
    problem: str | None = None

    @property
    def runs(self) -> str | None:
        """The release the host serves: its node's, when the node answers."""
        return self.running if self.up else None

    def on(self, version: str) -> bool:
        """Whether the host boots and runs `version`: a deploy of it is done there."""
        return self.up is True and self.current == version and self.running == version


def host_now(remote: Remote, deliver_to: str, app: str) -> HostNow:
    """Two round trips: the layout (host/layout.py), then the node's liveness check. A host
    with nothing deployed is a row of dashes; one that fails to answer, a row saying why."""
    try:
        state = read_state(remote, deliver_to, app)
    except NodeError:
        return HostNow(remote.name, up=False)
    except DeliverError as error:
        return HostNow(remote.name, problem=str(error).splitlines()[0])
    alive = node_commands(state.tool).alive(app)
    body = f'd=running; [ -e running ] || d=current\ncd "$d" && {alive} >/dev/null 2>&1'
    try:
        up = remote.run(in_root(state.root, body), check=False).ok
    except DeliverError as error:
        return HostNow(remote.name, state.current, state.running, problem=str(error))
    return HostNow(remote.name, state.current, state.running, up)
