"""What one deploy host runs right now, for the per-host state table a command prints after a
failure or a Ctrl-C (commands/report.py): the release `current` names, the one the node was
started from, whether that node answers, and which version it says it runs (after a hot
upgrade, another one than the directory it was started from).
"""

from __future__ import annotations

from dataclasses import dataclass

from deliver.errors import DeliverError, NodeError
from deliver.host.dist import pid_and_version
from deliver.host.layout import HostState, in_root, read_state
from deliver.release import version_problem
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
    #: the version the node runs (asked, or what its root boots): a hot upgrade changes it
    version: str | None = None

    @property
    def runs(self) -> str | None:
        """The release the host serves: its node's, when the node answers."""
        return (self.version or self.running) if self.up else None

    def on(self, version: str) -> bool:
        """Whether the host boots and runs `version`: a deploy of it is done there."""
        return self.up is True and self.current == version and self.runs == version


def host_now(remote: Remote, deliver_to: str, app: str, *, ask_node: bool = False) -> HostNow:
    """Two round trips: the layout (host/layout.py), then the node's liveness check and the
    version its root boots (releases/start_erl.data, which a hot upgrade rewrites). With
    `ask_node`, the node itself is asked its version over its distribution first (a hot
    install cut off before it was made permanent runs another version than its root boots).
    A host with nothing deployed is a row of dashes; one that fails to answer, a row saying
    why."""
    try:
        state = read_state(remote, deliver_to, app)
    except NodeError:
        return HostNow(remote.name, up=False)
    except DeliverError as error:
        return HostNow(remote.name, problem=str(error).splitlines()[0])
    try:
        asked = pid_and_version(remote, state.root, state.tool, app) if ask_node else None
        if asked is not None:
            return _row(state, True, asked[1])
        return _by_script(remote, state, app)
    except DeliverError as error:
        return HostNow(remote.name, state.current, state.running, problem=str(error))


def _by_script(remote: Remote, state: HostState, app: str) -> HostNow:
    alive = node_commands(state.tool).alive(app)
    body = (
        'd=running; [ -e running ] || d=current\ncd "$d" || exit 1\n'
        "cut -d' ' -f2 releases/start_erl.data 2>/dev/null\n"
        f"{alive} >/dev/null 2>&1"
    )
    result = remote.run(in_root(state.root, body), check=False)
    boots = result.stdout.strip().splitlines()
    return _row(state, result.ok, boots[-1] if boots else None)


def _row(state: HostState, up: bool, version: str | None) -> HostNow:
    # a version from the host goes into a table on the terminal: the version grammar first
    if version is not None and version_problem(version) is not None:
        version = None
    return HostNow(state.name, state.current, state.running, up, version=version)
