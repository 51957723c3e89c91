"""The release handler's calls of a hot upgrade (check_install_release; set_unpacked,
install_release and make_permanent) made over the node's Erlang distribution (host/dist.py)
where the tool gives them as code for the node: no VM is booted on the host (`bin/<app> rpc`)
to pass them on. Where it cannot, the tool's start-script commands run in a remote script.

Either way the answer is what release_handler.py reads: KEY=value lines (STATE=checked,
STATE=installed, MS=) and the release handler's words. A node that hangs up during
install_release (an upgrade that restarts the emulator) gives no verdict here: the caller
asks the node what it runs.
"""

from __future__ import annotations

import time

from deliver.host.dist import evaluate_in_node
from deliver.host.layout import in_root
from deliver.shell import parse_key_values, quote
from deliver.tools import hot_upgrades
from deliver.transport.remote import Remote

#: Seconds install_release or its check may run inside the node (loading, code_change).
CALL_TIMEOUT = 600.0

Answer = tuple[dict[str, str], str]


def install_by_node(remote: Remote, root: str, tool: str, app: str, version: str) -> Answer | None:
    """Install `version` (set_unpacked, install_release, make_permanent) in the node of
    `root/running`: MS= (how long it took) and STATE=installed when the node said so. None
    when the node cannot be asked so."""
    code = hot_upgrades(tool).install_code(app, version)
    started = time.monotonic()
    said = _evaluate(remote, root, tool, app, code)
    if said is None:
        return None
    values = {"MS": str(int((time.monotonic() - started) * 1000))}
    return _marked(values, said, "INSTALLED", version, "installed")


def check_by_node(remote: Remote, root: str, tool: str, app: str, version: str) -> Answer | None:
    """Check that the staged `version` can be installed: STATE=checked when it can."""
    said = _evaluate(remote, root, tool, app, hot_upgrades(tool).check_code(app, version))
    return None if said is None else _marked({}, said, "CHECKED", version, "checked")


def check_lines(tool: str, app: str, version: str) -> str:
    """Shell, in the node's root: the start script's check, printing STATE=checked."""
    return f"""out=$({hot_upgrades(tool).check_install(app, version)} 2>&1)
printf '%s\\n' "$out" | grep -v '^CHECKED=' | sed 's/^/| /'
case "$out" in *"CHECKED={version}"*) echo STATE=checked ;; esac"""


def install_lines(tool: str, app: str, version: str, upgrade: bool) -> str:
    """Shell, in the node's root: the start script's install, printing MS= and
    STATE=installed."""
    return f"""t0=$(date +%s%N)
out=$({hot_upgrades(tool).install(app, version, upgrade)} 2>&1); status=$?
echo MS=$(( ($(date +%s%N) - t0) / 1000000 ))
printf '%s\\n' "$out" | grep -v '^INSTALLED=' | sed 's/^/| /'
case "$out" in *"INSTALLED={version}"*) [ $status -eq 0 ] && echo STATE=installed ;; esac"""


def by_script(remote: Remote, root: str, node_root: str, lines: str, step: str) -> Answer:
    """Run `lines` in the node's root with the host's env loaded: the answer they print."""
    body = f"cd {quote(node_root)} || exit 1\n{lines}"
    result = remote.run(in_root(root, body), step=step)
    return parse_key_values(result.stdout), words(result.stdout)


def words(stdout: str) -> str:
    """What the release handler said: the `| ` lines of a script's answer."""
    return "\n".join(line[2:] for line in stdout.splitlines() if line.startswith("| "))


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
