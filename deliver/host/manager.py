"""Who starts and stops the node of one host: the release's own daemon (run_erl), systemd, or
the user's own commands (runit's `sv`, supervisord's `supervisorctl`, s6, Docker).

Only starting and stopping change with the manager: node.py still waits for the node to
answer after a start and to be gone after a stop, asking the node itself, so ping, version,
hot upgrades and migrations are the same under each. Every function returns shell run in the
release root by host/layout.py's `in_root` (`$root` is set, the host's env file loaded).
"""

from __future__ import annotations

from deliver.config import NodeManager
from deliver.config.node import expand_command
from deliver.host.layout import ENV_FILE, replace_file
from deliver.shell import join, quote
from deliver.tools import NodeCommands

#: What the systemd unit reads (EnvironmentFile=): systemd cannot read deliver.env, which
#: holds `export NAME='value'` lines (systemd 252's parser ignores every `export` line and
#: knows no shell quoting or `${...}`).
SYSTEMD_ENV_FILE = "deliver.systemd.env"
#: Shell run in the root: deliver.env as `NAME="value"` lines escaped for systemd's parser
#: (inside double quotes it takes a backslash before exactly \ " $ `), from what a clean shell
#: gets by loading it: written before every systemd start, so it is always the env of what
#: `current` boots (a switch, a rollback and `env push` change deliver.env).
_TO_SYSTEMD = f""". ./{ENV_FILE}
for n in $(sed -n 's/^export \\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p' {ENV_FILE} | sort -u); do
  eval "v=\\${{$n}}"
  printf '%s="' "$n"
  printf '%s' "$v" | sed -e 's/[\\\\"$`]/\\\\&/g'
  printf '"\\n'
done"""
SYSTEMD_ENV = replace_file(
    ".",
    SYSTEMD_ENV_FILE,
    f'[ ! -f {ENV_FILE} ] || env -i PATH="$PATH" sh -c {quote(_TO_SYSTEMD)}',
)

#: The files the node's logs are kept in, in its log directory, besides the daemon's own
#: (the tool's log_files(), run_erl's): what a supervisor writes there (svlogd's `current`,
#: `*.log` of supervisord or your own run script). run_erl.log is run_erl's own diary.
SUPERVISOR_LOGS = ("current", "*.log")
SKIPPED_LOG = "run_erl.log"


def log_dir(manager: NodeManager) -> str:
    """The node's log directory as one quoted shell word: absolute, or under `$root`."""
    if manager.log_dir.startswith("/"):
        return quote(manager.log_dir)
    return f'"$root"/{quote(manager.log_dir)}'


def log_files(manager: NodeManager, node: NodeCommands) -> str:
    """Shell words (globs) naming the log files in the log directory, oldest kind first."""
    patterns = (node.log_files(), *SUPERVISOR_LOGS)
    return " ".join(f"{log_dir(manager)}/{pattern}" for pattern in patterns)


def placeholders(app: str, root: str, release: str) -> dict[str, str]:
    return {"app": quote(app), "deliver_to": quote(root), "release": quote(release)}


def start_command(
    manager: NodeManager, node: NodeCommands, app: str, root: str, release: str
) -> str:
    """Start the node of `current` (the release `release`) in the background."""
    logs = f"mkdir -p {log_dir(manager)}"
    prepare = f"(cd current && {node.prepare(app)})"
    if manager.manager == "systemd":
        return join(prepare, SYSTEMD_ENV, systemctl(manager, app, "start"))
    if manager.manager == "command":
        assert manager.start is not None
        start = expand_command(manager.start, placeholders(app, root, release))
        return join(logs, prepare, start)
    return join(logs, f"(cd current && {node.log_to(log_dir(manager))} && {node.daemon(app)})")


def stop_command(
    manager: NodeManager, node: NodeCommands, app: str, root: str, release: str
) -> str:
    """Ask the node (of release `release`) to stop; run in the directory it runs from."""
    if manager.manager == "systemd":
        return systemctl(manager, app, "stop")
    if manager.manager == "command":
        assert manager.stop is not None
        return expand_command(manager.stop, placeholders(app, root, release))
    return node.stop(app)


def described(manager: NodeManager, app: str, verb: str, root: str, release: str) -> str:
    """The `verb` (start or stop) command as the person at the terminal would type it."""
    if manager.manager == "systemd":
        user = "--user " if manager.user_unit else ""
        return f"systemctl {user}{verb} {manager.unit_name(app)}"
    command = manager.start if verb == "start" else manager.stop
    if manager.manager == "command" and command is not None:
        return expand_command(command, placeholders(app, root, release))
    return f"bin/{app} {'daemon' if verb == 'start' else 'stop'}"


def summary(manager: NodeManager, app: str) -> str:
    """One line for `deliver check config`: who starts the node and where it logs."""
    logs = f"logs in {manager.log_dir}"
    if manager.manager == "systemd":
        user = " --user" if manager.user_unit else ""
        return f"systemd{user} unit {manager.unit_name(app)} (logs in its journal)"
    if manager.manager == "command":
        return f"command: start `{manager.start}`, stop `{manager.stop}` ({logs})"
    return f"daemon: bin/{app} daemon ({logs})"


def status_command(manager: NodeManager, app: str, root: str, release: str) -> str | None:
    """What the manager says about the node (shown when a start fails); None for daemon."""
    if manager.manager == "systemd":
        return systemctl(manager, app, "status --no-pager --lines=0")
    if manager.manager == "command" and manager.status is not None:
        return expand_command(manager.status, placeholders(app, root, release))
    return None


def systemctl(manager: NodeManager, app: str, verb: str) -> str:
    """`systemctl VERB UNIT`: `--user` for a user unit, else as root or through `sudo -n`
    (never a password prompt: a deploy user needs a sudoers rule for systemctl)."""
    unit = quote(manager.unit_name(app))
    if manager.user_unit:
        return f"{USER_BUS} systemctl --user {verb} {unit}"
    return f"{SUDO} systemctl {verb} {unit}"


#: `sudo -n` unless already root: word-split on purpose, empty for root.
SUDO = '$([ "$(id -u)" = 0 ] || echo sudo -n)'
#: a non-interactive SSH session without pam_systemd has no XDG_RUNTIME_DIR: the user's
#: systemd instance listens in /run/user/<uid> all the same
USER_BUS = 'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"'


def journalctl(manager: NodeManager, app: str) -> str:
    """`journalctl` for the node's unit, without a pager; options follow."""
    unit = quote(manager.unit_name(app))
    if manager.user_unit:
        return f"{USER_BUS} journalctl --no-pager --user-unit {unit}"
    return f"{SUDO} journalctl --no-pager --unit {unit}"


def boot_log(manager: NodeManager, node: NodeCommands) -> str:
    """Shell run before a start: defines `this_boot`, which prints what the node has appended
    to its log files since (the files keep every past boot: only this one's lines tell
    whether it crashed)."""
    logs = log_files(manager, node)
    return f"""logs_before=$(for f in {logs}; do
  [ -f "$f" ] && printf '%s %s\\n' "$f" "$(wc -c < "$f")"; done)
this_boot() {{
  for f in {logs}; do
    [ -f "$f" ] || continue
    case "$f" in */{SKIPPED_LOG}) continue ;; esac
    n=$(printf '%s\\n' "$logs_before" | awk -v f="$f" '$1 == f {{print $2}}')
    [ "$(wc -c < "$f")" -ge "${{n:-0}}" ] || n=0  # run_erl wrapped around and rewrote it
    tail -c +$(( ${{n:-0}} + 1 )) "$f"
  done
}}"""


def failure_report(manager: NodeManager, app: str, root: str, release: str) -> str:
    """Shell run after a failed start: what the manager says of the node (its status), then
    the last lines the node logged (from the journal under systemd, else this boot's)."""
    status = status_command(manager, app, root, release)
    said = f"echo STATUS-FOLLOWS; ({status}) 2>&1 | tail -n 10\n" if status else ""
    if manager.manager == "systemd":
        return f"{said}echo LOG-FOLLOWS\n{journalctl(manager, app)} --lines 30 2>&1"
    return f"{said}echo LOG-FOLLOWS\nthis_boot | tail -n 30"


def failure_log(manager: NodeManager, stdout: str) -> str:
    """The text of failure_report's answer in `stdout`, for the error."""
    log = stdout.partition("LOG-FOLLOWS\n")[2]
    said = stdout.partition("STATUS-FOLLOWS\n")[2].partition("LOG-FOLLOWS\n")[0]
    return f"{manager.manager} says:\n{said}{log}" if said.strip() else log
