"""The service managers' command lines, run by a real shell with stand-ins for systemctl,
sudo and id that record what they were given; the systemd unit checked by the real
`systemd-analyze verify`; its env file read by systemd's own parser."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from deliver.config import Environment, HostSpec, NodeManager
from deliver.errors import NodeError
from deliver.host import manager as managers
from deliver.host.manager import SYSTEMD_ENV
from deliver.host.systemd import UnitHost, unit_text
from deliver.host.unpack import node_env_text
from deliver.shell import Secret
from deliver.tools import node_commands

SYSTEMD = NodeManager("systemd")
USER_UNIT = NodeManager("systemd", unit="web", user_unit=True)
RUNIT = NodeManager(
    "command",
    start="printf '<%s>\\n' start {app} {deliver_to} {release}",
    stop="printf '<%s>\\n' stop {release}",
    status="printf '<%s>\\n' status",
)


@pytest.mark.parametrize(
    ("manager", "verb", "command"),
    [
        (SYSTEMD, "start", '$([ "$(id -u)" = 0 ] || echo sudo -n) systemctl start hello.service'),
        (SYSTEMD, "stop", '$([ "$(id -u)" = 0 ] || echo sudo -n) systemctl stop hello.service'),
        (
            USER_UNIT,
            "start",
            'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" '
            "systemctl --user start web.service",
        ),
    ],
)
def test_systemctl_command_lines(manager: NodeManager, verb: str, command: str) -> None:
    assert managers.systemctl(manager, "hello", verb) == command


def recorded(tmp_path: Path, script: str, uid: str) -> list[str]:
    """Run `script` with id, sudo, systemctl and journalctl stand-ins first on the PATH;
    what each was called with, one line per call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    for name in ("sudo", "systemctl", "journalctl"):
        tool = bin_dir / name
        tool.write_text(
            f'#!/bin/sh\necho "{name} $* [XDG=${{XDG_RUNTIME_DIR:-}}]" >> {calls}\n'
            + ('[ "$1" = -n ] && shift\nexec "$@"\n' if name == "sudo" else "")
        )
        tool.chmod(0o755)
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "id").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    (tmp_path / "current").mkdir(exist_ok=True)  # a start prepares the release first
    subprocess.run(["sh", "-c", script], env=env, check=True, cwd=tmp_path)
    return calls.read_text().splitlines()


def test_root_runs_systemctl_itself_and_others_through_sudo_n(tmp_path: Path) -> None:
    start = managers.start_command(SYSTEMD, node_commands("rebar3"), "hello", "/srv", "0.1.0")
    assert recorded(tmp_path, start, "0") == ["systemctl start hello.service [XDG=]"]
    (tmp_path / "calls").unlink()
    assert recorded(tmp_path, start, "1000") == [
        "sudo -n systemctl start hello.service [XDG=]",
        "systemctl start hello.service [XDG=]",
    ]


def test_user_units_never_use_sudo_and_find_the_users_systemd(tmp_path: Path) -> None:
    stop = managers.stop_command(USER_UNIT, node_commands("mix"), "hello", "/srv", "0.1.0")
    logs = managers.journalctl(USER_UNIT, "hello") + " --lines 5"
    assert recorded(tmp_path, f"{stop}; {logs}", "1000") == [
        "systemctl --user stop web.service [XDG=/run/user/1000]",
        "journalctl --no-pager --user-unit web.service --lines 5 [XDG=/run/user/1000]",
    ]


def test_command_placeholders_are_single_shell_words(tmp_path: Path) -> None:
    root = "/srv/it's $(touch pwned) here"
    start = managers.start_command(RUNIT, node_commands("mix"), "hello", root, "0.1.0+b.1")
    (tmp_path / "current").mkdir()
    ran = subprocess.run(
        ["sh", "-c", f"root={tmp_path}\n{start}"], capture_output=True, text=True, cwd=tmp_path
    )
    assert ran.stdout.splitlines() == ["<start>", "<hello>", f"<{root}>", "<0.1.0+b.1>"]
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "log").is_dir()  # the log directory is made before the start
    stop = managers.stop_command(RUNIT, node_commands("mix"), "hello", root, "0.1.0")
    assert subprocess.run(["sh", "-c", stop], capture_output=True, text=True).stdout == (
        "<stop>\n<0.1.0>\n"
    )


def test_the_daemon_logs_into_the_kept_log_directory(tmp_path: Path) -> None:
    """mix: the release's tmp/log becomes a link to deliver_to/log (its other tmp files
    stay in the release); relx and Distillery take RUNNER_LOG_DIR."""
    mix = managers.start_command(NodeManager(), node_commands("mix"), "hello", "/x", "0.1.0")
    assert "(cd current && mkdir -p tmp" in mix and "bin/hello daemon" in mix
    relx = managers.start_command(NodeManager(), node_commands("rebar3"), "hello", "/x", "1")
    assert 'export RUNNER_LOG_DIR="$root"/log' in relx
    elsewhere = NodeManager(log_dir="/var/log/hello")
    assert managers.log_dir(elsewhere) == "/var/log/hello"
    release = tmp_path / "releases" / "0.1.0"
    (release / "tmp" / "log").mkdir(parents=True)  # a start before node.log_dir existed
    (release / "tmp" / "log" / "erlang.log.1").write_text("old boot\n")
    (tmp_path / "current").symlink_to(release)
    script = f'root={tmp_path}\nmkdir -p "$root"/log\ncd current\n'
    script += node_commands("mix").log_to('"$root"/log')
    subprocess.run(["sh", "-c", script], check=True, cwd=tmp_path)
    assert os.readlink(release / "tmp" / "log") == f"{tmp_path}/log"
    assert [p.name for p in (release / "tmp").iterdir() if p.name.startswith("log.old")]


def unit_host(tmp_path: Path, tool: str = "mix") -> UnitHost:
    root = tmp_path / "srv" / "hello"
    script = root / "releases" / "0.1.0" / "bin" / "hello"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (root / "current").symlink_to(root / "releases" / "0.1.0")
    return UnitHost("web1", str(root), "root", tool)


@pytest.mark.parametrize(("tool", "start"), [("mix", "start"), ("rebar3", "foreground")])
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path, tool: str, start: str) -> None:
    host = unit_host(tmp_path, tool)
    text = unit_text("hello", host, SYSTEMD, stop_timeout=30)
    assert f"ExecStart={host.root}/current/bin/hello {start}\n" in text
    assert f"ExecStop={host.root}/current/bin/hello stop\n" in text
    assert f"EnvironmentFile=-{host.root}/deliver.systemd.env\n" in text
    assert f"User=root\nWorkingDirectory={host.root}\n" in text
    assert "Restart=on-failure\n" in text and "KillMode=mixed\nTimeoutStopSec=35\n" in text
    unit = tmp_path / "hello.service"
    unit.write_text(text)
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    # the same tool finds a mistake: it is not a check that passes anything
    unit.write_text(text.replace("KillMode=mixed", "KillMode=gently"))
    broken = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert "Failed to parse kill mode" in broken.stderr  # a warning: stderr is the verdict


def test_a_user_unit_has_no_user_and_is_wanted_by_the_users_default_target(
    tmp_path: Path,
) -> None:
    text = unit_text("hello", unit_host(tmp_path), USER_UNIT, stop_timeout=30)
    assert "User=" not in text and "WantedBy=default.target" in text


def test_a_deliver_to_a_unit_would_misread_is_refused(tmp_path: Path) -> None:
    host = UnitHost("web1", "/srv/my app%n", "deploy", "mix")
    with pytest.raises(NodeError, match="web1: deliver_to is /srv/my app%n there"):
        unit_text("hello", host, SYSTEMD, 30)


GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")


def test_the_systemd_env_file_reads_back_the_same_values(tmp_path: Path) -> None:
    """deliver.env (as a deploy writes it) made into deliver.systemd.env on the host, then
    read by systemd's own env-file parser (the environment.d generator uses it) gives the
    values the shell reads. Values with `$` are checked on the text only: environment.d,
    unlike EnvironmentFile=, expands variables."""
    values = {
        "PLAIN": "4000",
        "QUOTES": 'it\'s "quoted" `ticked` back\\slash',
        "LINES": "two\nlines",
        "SPACES": "  padded  ",
        "HASH": "# not a comment ; %n",
        "SECRET": Secret("s3cr'et"),
        "ERL_AFLAGS": "+S 1",
    }
    host = HostSpec.parse("web1")
    env = Environment("production", (host,), "/srv", env=values, dist_interface="loopback")
    root = tmp_path / "srv"
    root.mkdir()
    (root / "deliver.env").write_text(node_env_text(env, host) + "export DOLLAR='$HOME'\n")
    subprocess.run(["sh", "-c", SYSTEMD_ENV], cwd=root, check=True)
    made = root / "deliver.systemd.env"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    text = made.read_text()
    assert 'ERL_AFLAGS="+S 1 -kernel inet_dist_use_interface {127,0,0,1}"\n' in text
    assert 'DOLLAR="\\$HOME"\n' in text and "export" not in text
    directory = tmp_path / ".config" / "environment.d"
    directory.mkdir(parents=True)
    (directory / "deliver.conf").write_text(text.replace('DOLLAR="\\$HOME"\n', ""))
    printed = subprocess.run(
        [str(GENERATOR)],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    # it prints NAME=value, a value with specials in double quotes with C-style escapes
    read = dict(line.split("=", 1) for line in printed.stdout.splitlines())
    expected = {n: v.value if isinstance(v, Secret) else v for n, v in values.items()}
    assert {n: _unescaped(read[n]) for n in values} == {
        **expected,
        "ERL_AFLAGS": "+S 1 -kernel inet_dist_use_interface {127,0,0,1}",
    }


def _unescaped(printed: str) -> str:
    if not printed.startswith('"'):
        return printed
    escapes = {"n": "\n", "t": "\t"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m[1], m[1]), printed[1:-1])
