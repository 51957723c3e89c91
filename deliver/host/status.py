"""What one deploy host runs now, for `deliver status`: its current and running releases, what
its node reports (version, OS pid, uptime), the last deploy (when from the history, who from
the audit log), and who holds its deploy lock. Read-only: it never changes the host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deliver.errors import NodeError
from deliver.host.dist import with_address
from deliver.host.layout import HostReleases, HostState, read_host_releases
from deliver.host.lock import LockInfo, audit_tail
from deliver.host.lock import read as read_lock
from deliver.host.node import node_version, ping_node
from deliver.transport.remote import Remote

#: The audit log's commands that put a release on the hosts (commands/lock.py writes them).
DEPLOYING = ("deploy ", "rollback", "upgrade", "downgrade", "update")
#: How many audit lines are searched for the last deploy.
AUDIT_LINES = 200
_PID = re.compile(r"\bpid (\d+)\b")


@dataclass(frozen=True)
class NodeReport:
    """What the running node says: the version it runs, its OS pid, seconds since it started."""

    version: str | None
    pid: int | None = None
    uptime: int | None = None


@dataclass(frozen=True)
class LastDeploy:
    version: str
    time: str
    by: str | None = None


@dataclass(frozen=True)
class HostStatus:
    """One row of `deliver status`; `error` says why a host could not be asked."""

    host: str
    reachable: bool
    error: str | None = None
    current: str | None = None
    running: str | None = None
    node: NodeReport | None = None
    last_deploy: LastDeploy | None = None
    lock: LockInfo | None = None

    @property
    def disagrees(self) -> bool:
        """Its node runs something else than `current` (a restart would change what runs)."""
        runs = self.node.version if self.node else None
        return bool(self.current and runs and runs != self.current)

    @property
    def runs(self) -> str | None:
        """The version this host serves: what its node reports, None while it is down."""
        return self.node.version if self.node else None


def read_status(remote: Remote, deliver_to: str, app: str) -> HostStatus:
    """One host's status; a host with nothing deployed is a row too (current None)."""
    try:
        releases: HostReleases | None = read_host_releases(remote, deliver_to, app)
    except NodeError:
        releases = None
    node = _node(remote, releases, app) if releases else None
    return HostStatus(
        remote.name,
        True,
        current=releases.current if releases else None,
        running=releases.running if releases else None,
        node=node,
        last_deploy=_last_deploy(remote, releases, deliver_to) if releases else None,
        lock=read_lock(remote, deliver_to),
    )


def _node(remote: Remote, state: HostState, app: str) -> NodeReport | None:
    """None when the node does not answer."""
    asked = with_address(remote, state, app)  # one read of the address for both questions
    try:
        pong = ping_node(remote, asked, app)
        version = node_version(remote, asked, app).version
    except NodeError:
        return None
    found = _PID.search(pong.detail)
    pid = int(found.group(1)) if found else None
    return NodeReport(version, pid, _uptime(remote, pid) if pid else None)


def _uptime(remote: Remote, pid: int) -> int | None:
    elapsed = remote.run(f"ps -o etimes= -p {int(pid)}", check=False).stdout.strip()
    return int(elapsed) if elapsed.isdigit() else None


def _last_deploy(remote: Remote, releases: HostReleases, deliver_to: str) -> LastDeploy | None:
    """The last switch of `current` (the history's last `deployed`), and who made the last
    deploy-like command that succeeded (the audit log)."""
    switched = next((e for e in reversed(releases.history) if e.kind == "deployed"), None)
    if switched is None:
        return None
    return LastDeploy(
        switched.version, switched.time, _deployer(audit_tail(remote, deliver_to, AUDIT_LINES))
    )


def _deployer(lines: list[str]) -> str | None:
    """`<time> <who> <command>: <outcome>` lines -> who made the last successful deploy."""
    for line in reversed(lines):
        _, who, rest = ([*line.split(" ", 2), "", ""])[:3]
        command, _, outcome = rest.rpartition(": ")
        if outcome == "ok" and command.startswith(DEPLOYING):
            return who
    return None
