"""Ways to break a real sandbox host at a chosen moment of a deploy.

Every sandbox host finds `hosts/<name>/bin` first on its PATH (deliver/sandbox.py), so a
fault is a small wrapper of a real command there (`tee`, `tar`, `ln`, `cut`): it recognises
the moment by its arguments (the streamed upload's `tee .../fifo .../archive`, the
extraction's `tar -xzf`, the switch's `ln -s releases/<v>`, the stop loop's
`cut ... /proc/...`), does its harm once,
then runs the real command. The harm is real: the SSH connection is cut by killing the sshd
processes that serve the session (not the listening sshd, so the host stays reachable), or
the step is slowed to leave time for a Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deliver.sandbox import SSHD, Sandbox

#: Shell: kill every sshd between this process and the host's listening sshd ($MASTER):
#: the session's connection drops as when a network link fails; what the session started
#: keeps running, orphaned, as it would on a real host.
_CUT_CONNECTION = """cut_connection() {
  pid=$$
  while [ "$pid" -gt 1 ]; do
    read -r stat < /proc/$pid/stat || break
    rest=${stat##*) }
    set -- $rest
    parent=$2
    read -r comm < /proc/$pid/comm
    case "$comm" in sshd*) [ "$pid" = "$MASTER" ] || kill -9 "$pid" ;; esac
    pid=$parent
  done
}"""


def _shim(real: str, condition: str, action: str, master: int, mark: Path) -> str:
    return f"""#!/bin/sh
MASTER={master}
{_CUT_CONNECTION}
if [ ! -e {mark} ] && {condition}; then
  : > {mark}
  {action}
fi
exec {real} "$@"
"""


#: When each fault fires: a shell test over the wrapped command's arguments and stdout.
MOMENTS = {
    # the streamed upload: tee copies the archive into the fifo of sha256sum and the kept file
    "upload": ("tee", 'case "$*" in */fifo*/archive*) true ;; *) false ;; esac'),
    "extract": ("tar", 'case "$*" in *-xzf*) true ;; *) false ;; esac'),
    "switch": ("ln", 'case "$*" in *releases/0.1.1*.current.*) true ;; *) false ;; esac'),
    "restart": ("cut", 'case "$*" in *-f3*/proc/*) true ;; *) false ;; esac'),
    # a hot install: the release handler has switched and made it permanent, deliver has not
    # yet recorded it (the alias releases/0.2.0 of the node's directory is its first link)
    "record": ("ln", 'case "$*" in *" releases/.0.2.0."*) true ;; *) false ;; esac'),
}


@contextmanager
def fault(sandbox: Sandbox, hosts: list[str], moment: str, harm: str = "cut") -> Iterator[None]:
    """While the block runs, on each of `hosts`, the first time `moment` comes: `cut` the
    connection (the upload stops there, and the record of a hot install with the script that
    writes it; the other steps carry on orphaned, as on a host whose network failed), take
    the host `down` (its listening sshd too, and the step does not
    happen: start_sshd brings it back), or `slow` it by 3 seconds. Fires once per host."""
    command, condition = MOMENTS[moment]
    real = shutil.which(command, path="/usr/bin:/bin")
    assert real is not None
    if harm == "cut" and moment == "record":
        # the session's script dies with its connection: nothing of the record is written
        action = 'cut_connection; kill -9 "$PPID"; exit 1'
    elif harm == "cut":
        action = "cut_connection" + ("; exit 1" if moment in ("upload", "extract") else "")
    elif harm == "down":
        action = 'kill "$MASTER"; cut_connection; exit 1'
    else:
        action = f"{shutil.which('sleep', path='/usr/bin:/bin')} 3"
    paths = []
    for name in hosts:
        directory = sandbox.root / "hosts" / name
        master = int((directory / "sshd.pid").read_text())
        path = directory / "bin" / command
        mark = directory / f"fault-{moment}.fired"
        mark.unlink(missing_ok=True)
        path.write_text(_shim(real, condition, action, master, mark))
        path.chmod(0o755)
        paths.append((path, mark))
    try:
        yield
    finally:
        for path, mark in paths:
            path.unlink(missing_ok=True)
            mark.unlink(missing_ok=True)


def fired(sandbox: Sandbox, host: str, moment: str) -> bool:
    return (sandbox.root / "hosts" / host / f"fault-{moment}.fired").exists()


@contextmanager
def sshd_down(sandbox: Sandbox, host: str) -> Iterator[None]:
    """The host's sshd is stopped for the block (connections refused), then started again."""
    stop_sshd(sandbox, host)
    try:
        yield
    finally:
        start_sshd(sandbox, host)


def stop_sshd(sandbox: Sandbox, host: str) -> None:
    pid_file = sandbox.root / "hosts" / host / "sshd.pid"
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def start_sshd(sandbox: Sandbox, host: str) -> None:
    """Start the host's sshd again with its own config (the port and host key stay)."""
    directory = sandbox.root / "hosts" / host
    subprocess.run(
        [SSHD, "-f", str(directory / "sshd_config"), "-E", str(directory / "sshd.log")],
        check=True,
    )
    port = sandbox.host(host).port
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise AssertionError(f"sshd of {host} did not come back")


def restart_sshd(sandbox: Sandbox, host: str) -> None:
    """What `systemctl restart ssh` does: the listener goes and comes back; sessions stay."""
    stop_sshd(sandbox, host)
    start_sshd(sandbox, host)
