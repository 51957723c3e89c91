"""A hot upgrade whose relup restarts the emulator (`restart_emulator` in an appup, or
`restart_new_emulator`, which systools adds when ERTS or a core application changes).

The release handler answers install_release, then reboots the node: heart, told by the release
handler, runs the release's start program `bin/start <data file>` (the data file names the
ERTS and the version to boot) once the old emulator is gone. So the node must run with heart
(preflight, before any host is touched: without it the release handler's error action
restarts the node in place, its state lost), and deliver writes that start program into the
node's root (mix releases have none). The release is made permanent on the NEW node only,
once it answers with the new version: a node that did not come back boots the old one at its
next start. The OS pid changes, and the host's line says so.
"""

from __future__ import annotations

import time

from deliver.errors import NodeError
from deliver.host.dist import (
    Unavailable,
    evaluate_in_node,
    node_session,
    pid_and_version,
    read_address,
)
from deliver.host.layout import NOT_A_RELEASE_NAME, in_root
from deliver.host.node import NodeStatus
from deliver.host.release_handler import NodeCheck, Switch, install, relink
from deliver.shell import quote
from deliver.tools import hot_upgrades
from deliver.transport.erlterm import Atom, Pid
from deliver.transport.remote import Remote

#: How long a node may take to answer with the new version after install_release.
COME_BACK_SECONDS = 90.0

#: Seconds install_release may run inside the node before it reboots.
CALL_TIMEOUT = 600.0

#: The first line after the shebang of the start program deliver writes (it replaces only
#: its own: a `bin/start` of the release's is left alone and used).
MARK = "# written by deliver: the release handler's start program (restart_emulator)"


class NoHeart(NodeError):
    """The node does not run with heart: it would not come back from the emulator restart."""


def check_heart(remote: Remote, root: str, tool: str, app: str, manager: str = "daemon") -> None:
    """Read-only: ask the node (over its distribution) whether its `heart` process exists;
    NoHeart when it does not, when the node cannot be asked so, or when a service `manager`
    starts it (heart would start the new emulator behind the manager's back)."""
    if hot_upgrades(tool).restart_codes(app, "0") is None:
        raise NoHeart(
            remote.name, f"deliver cannot restart the emulator of {tool} nodes in an upgrade"
        )
    if manager != "daemon":
        raise NoHeart(
            remote.name,
            f"its node is started by {manager} (node.manager), and heart would start the new "
            f"emulator outside {manager}'s control",
        )
    try:
        address = read_address(remote, root, tool, app, "running")
        with node_session(remote, address) as node:
            heart = node.rpc("erlang", "whereis", [Atom("heart")])
    except Unavailable as why:
        asked = f"cannot ask the node whether it runs with heart ({why})"
        raise NoHeart(remote.name, asked) from None
    if not isinstance(heart, Pid):
        raise NoHeart(
            remote.name,
            "the node runs without heart, so it would not come back from the emulator "
            "restart (start it with heart: ELIXIR_ERL_OPTIONS=-heart in the environment's env)",
        )


def start_program(app: str) -> str:
    """The start program: boots, in the release root it lives in, the version named in the
    data file heart passes (`<erts> <version>`), as a daemon like deliver's start."""
    return f"""#!/bin/sh
{MARK}
set -eu
cd "$(dirname "$0")/.."
vsn=
# the release handler writes its data file without a final newline: read fails at its end
{{ read -r _erts vsn _rest || :; }} < "${{1:-releases/start_erl.data}}"
case "$vsn" in {NOT_A_RELEASE_NAME}) echo "bin/start: bad version in ${{1:-}}" >&2; exit 1 ;; esac
RELEASE_VSN=$vsn
export RELEASE_VSN
exec bin/{quote(app)} daemon
"""


def stage_start_program(remote: Remote, root: str, node_root: str, app: str) -> None:
    """Write bin/start (0700, with one rename) into the node's root unless the release has
    its own there."""
    program = start_program(app)
    script = f"""set -e
cd {quote(node_root)}
if [ -e bin/start ] && ! grep -qxF {quote(MARK)} bin/start; then exit 0; fi
tmp=$(mktemp bin/.start.XXXXXX)
cat > "$tmp" <<'DELIVER_START_EOF'
{program}DELIVER_START_EOF
chmod 700 "$tmp"
mv -f "$tmp" bin/start
"""
    remote.run(in_root(root, script), step="writing bin/start for the emulator restart")


def install_switch(remote: Remote, check: NodeCheck, switch: Switch) -> NodeStatus:
    """Install `switch` through the release handler: hot, or with an emulator restart when
    its relup asks for one (an upgrade's manifest says so; for a downgrade, the relup of the
    version the node runs, on the host). A downgrade that restarts the emulator on a node
    without heart is refused here (NoHeart), before its install."""
    if switch.upgrade is not None:
        restarts = switch.upgrade.restarts_emulator
    else:
        relup = f"releases/{quote(switch.from_version)}/relup"
        asked = f"cd {quote(check.node_root)} && grep -qE 'restart(_new)?_emulator' {relup}"
        restarts = remote.run(asked, check=False).ok
        if restarts:
            check_heart(remote, check.root, check.tool, switch.app)
    return (install_restarting if restarts else install)(remote, check, switch)


def install_restarting(
    remote: Remote, check: NodeCheck, switch: Switch, come_back: float = COME_BACK_SECONDS
) -> NodeStatus:
    """Install `switch.to_version` (staged and checked), wait for the node to come back with
    it in a new OS process, make it permanent there and record it in the layout. NodeError
    saying what the node runs (and how to recover) when it does not come back in time."""
    root, tool, app, version = check.root, check.tool, switch.app, switch.to_version
    old = (check.version, check.pid)
    codes = hot_upgrades(tool).restart_codes(app, version)
    assert codes is not None, "preflight refuses tools without emulator restarts"
    stage_start_program(remote, root, check.node_root, app)
    started = time.monotonic()
    said = evaluate_in_node(remote, root, tool, app, codes[0], CALL_TIMEOUT)
    if said is None:
        raise NodeError(remote.name, "the node's distribution cannot be reached to install")
    # the node answers ok and then reboots: a hung-up call is no verdict, its new pid is;
    # a release handler that said no leaves the node as it was (no reboot to wait for)
    refused = not said[0] and "install_release: " in said[1]
    waited = _come_back(remote, root, tool, app, old, version, started + come_back, refused)
    pid, now = waited
    seconds = time.monotonic() - started
    if pid is None or now != version:
        if pid is None:
            what = f"the node did not come back within {come_back:g} s (nothing answers)"
        elif pid == old[1]:
            what = f"the node was not restarted: it runs {now} as before (pid {pid})"
        else:
            what = f"the node came back in a new process (pid {pid}), but it runs {now}"
        failed = NodeError(
            remote.name, f"{what}; {version} was not made permanent", said[1] if refused else ""
        )
        failed.hint = f"its next start boots {old[0]}"
        raise failed
    made = evaluate_in_node(remote, root, tool, app, codes[1], CALL_TIMEOUT)
    if made is None or f"PERMANENT={version}" not in made[1].splitlines():
        raise NodeError(
            remote.name,
            f"the node runs {version} (pid {pid}), but make_permanent failed: its next start "
            f"boots {old[0]}",
            made[1] if made else "",
        )
    relink(remote, check, version, downgrade=switch.upgrade is None)
    return NodeStatus(
        remote.name,
        version,
        f"{old[0]} -> {version}, emulator restarted (pid {old[1]} -> {pid}, {seconds:.1f} s)",
    )


def _come_back(
    remote: Remote,
    root: str,
    tool: str,
    app: str,
    old: tuple[str, str],
    version: str,
    deadline: float,
    refused: bool,
) -> tuple[str | None, str | None]:
    """Ask the node (a fresh connection each time) until a new OS process answers (with
    `version`, or the old one: a verdict either way), the old one answers `old` though the
    release handler `refused`, or `deadline` passes: the last (pid, version) seen."""
    seen: tuple[str | None, str | None] = (None, None)
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            asked = pid_and_version(remote, root, tool, app)
        except NodeError:  # booting: refuses or does not answer yet
            continue
        if asked is None:
            continue
        seen = (str(asked[0]), asked[1])
        # a new process may first run a temporary release (restart_new_emulator: the new
        # ERTS boots, then the release handler goes on): only the new or the old version is
        # a verdict
        if seen[0] != old[1] and seen[1] in (version, old[0]):
            break
        if refused and seen == (old[1], old[0]):
            break
    return seen
