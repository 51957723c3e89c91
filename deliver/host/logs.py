"""The node's logs on one host: the files in its log directory (`node.log_dir`, default
`deliver_to/log`, kept across releases), or the journal under the systemd manager.

`log_script` is the one remote script `deliver logs` runs per host: the last lines (matching
`grep`), then with `follow` new ones as they come, until deliver goes away. A follower must
not outlive the command: a watchdog kills the script's process group (sshd makes every
session its own) once the sshd process that started it is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deliver.config import NodeManager
from deliver.errors import InvalidArgument
from deliver.host import manager as managers
from deliver.host.manager import SKIPPED_LOG, SUPERVISOR_LOGS
from deliver.shell import quote
from deliver.tools import NodeCommands

#: what journalctl's --since takes: dates, times, `yesterday`, `-1h`, `10 min ago`
_SINCE = re.compile(r"[0-9A-Za-z:. +-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Shell: ends the session (every process of its group) once its sshd is gone.
WATCHDOG = '( while kill -0 "$PPID" 2>/dev/null; do sleep 1; done; kill 0 ) &'


@dataclass(frozen=True)
class LogQuery:
    """What `deliver logs` asks each host for."""

    lines: int = 50
    follow: bool = False
    since: str | None = None
    grep: str | None = None

    def __post_init__(self) -> None:
        if self.lines < 0:
            raise InvalidArgument("lines", "expected 0 or more lines", str(self.lines))
        if self.since is not None and not _SINCE.fullmatch(self.since):
            raise InvalidArgument(
                "since",
                "expected a time like '2024-05-01 10:00', yesterday, -1h or '10 min ago'",
                repr(self.since),
            )
        if self.grep is not None and (not self.grep or _CONTROL.search(self.grep)):
            raise InvalidArgument("grep", "expected a regular expression on one line")


def log_script(manager: NodeManager, node: NodeCommands, app: str, query: LogQuery) -> str:
    """Shell, run by `in_root`: the node's log lines, as `query` asks."""
    if manager.manager == "systemd":
        return _journal(manager, app, query)
    if query.since is not None:
        raise InvalidArgument(
            "since",
            "works with the journal only (node.manager: systemd): the lines of the log files "
            "have no dates",
        )
    directory = managers.log_dir(manager)
    existing = " ".join(f"{directory}/{p}" for p in (node.log_files(), *SUPERVISOR_LOGS))
    grep = "" if query.grep is None else f" | grep -E -e {quote(query.grep)}"
    head = f"""files=$(ls -1tr -d -- {existing} 2>/dev/null | grep -v '/{SKIPPED_LOG}$')
IFS='
'
set -f
set -- $files
set +f
unset IFS
if [ $# -eq 0 ] && [ {int(not query.follow)} -eq 1 ]; then echo "(nothing logged yet)"; exit 0; fi
if [ $# -gt 0 ]; then cat -- "$@"{grep} | tail -n {query.lines}; fi"""
    if not query.follow:
        return head
    # run_erl writes erlang.log.1 to .N in turn: follow the names it will write, too
    generations = (
        f'i=1; while [ $i -le "${{RUN_ERL_LOG_GENERATIONS:-5}}" ]; do '
        f'f={directory}/erlang.log.$i; case " $* " in *" $f "*) ;; *) set -- "$@" "$f";; esac; '
        "i=$((i + 1)); done"
    )
    follow = f'tail -q -n 0 -F -- "$@" 2>/dev/null{_line_buffered(grep)}'
    return "\n".join((head, generations, WATCHDOG, follow))


def _journal(manager: NodeManager, app: str, query: LogQuery) -> str:
    options = [f"--lines {query.lines}", "--output short-iso"]
    if query.since is not None:
        options.append(f"--since={quote(query.since)}")
    if query.grep is not None:
        options.append(f"--grep={quote(query.grep)}")
    command = f"{managers.journalctl(manager, app)} {' '.join(options)}"
    if not query.follow:
        return command
    return f"{WATCHDOG}\n{command} --follow"


def _line_buffered(grep: str) -> str:
    return grep.replace(" | grep ", " | grep --line-buffered ", 1)
