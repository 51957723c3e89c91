"""The env file of a host and the env kept with each release: parsing, comparing, pushing,
and the health URL of the env a node boots with (on this machine's shell)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from deliver.config import Environment, HealthCheck, HostSpec
from deliver.host.env import (
    BootedEnv,
    EnvChange,
    booted_env,
    booted_urls,
    differs,
    env_changes,
    kept_env,
    parse_env,
    push_env,
    rollback_notes,
    shown_env,
    wanted_text,
)
from deliver.shell import Secret, env_file_text
from deliver.transport.local import LocalRemote

HOST = HostSpec.parse("localhost", {"PORT": "4001"})
ENV = Environment("production", (HOST,), "/unused", {"TOKEN": Secret("s3cret-token")})
REMOTE = LocalRemote(HOST)


def test_an_env_file_is_read_back_as_deliver_writes_it_and_nothing_else() -> None:
    text = env_file_text({"A": "1", "B": 'it\'s a "value"\nwith a newline', "EMPTY": ""})
    assert parse_env(text) == {"A": "1", "B": 'it\'s a "value"\nwith a newline', "EMPTY": ""}
    hostile = "export OK=1\nrm -rf /\nexport 'unclosed\nexport =x\nexport 1A=2\nPATH=/evil\n"
    assert parse_env(hostile) == {"OK": "1"}


def test_changes_name_variables_and_show_only_plain_values_of_deliver() -> None:
    wanted = {"PORT": "4001", "TOKEN": Secret("new-secret"), "NEW": "yes"}
    mine = env_file_text(wanted)
    theirs = env_file_text({"PORT": "4000", "TOKEN": "old-secret", "GONE": "old-plain"})
    changes = env_changes(wanted, mine, theirs)
    assert changes == [
        EnvChange("GONE", "only on the host"),
        EnvChange("NEW", "only in .deliver", None, "yes"),
        EnvChange("PORT", "changed", "4000", "4001"),
        EnvChange("TOKEN", "changed"),
    ]
    described = [change.describe() for change in changes]
    assert described == [
        "GONE: only on the host",
        "NEW: only in .deliver ('yes')",
        "PORT: '4000' on the host, '4001' in .deliver",
        "TOKEN: changed",
    ]
    assert not any("secret" in line for line in described)
    assert env_changes(wanted, mine, mine) == []


def test_a_host_differs_unless_its_file_is_the_one_deliver_would_write() -> None:
    written = hashlib.sha256(wanted_text(ENV, HOST).encode()).hexdigest()
    assert not differs(ENV, HOST, written)
    assert differs(ENV, HOST, None)  # no deliver.env at all
    assert differs(ENV, HOST, "0" * 64)


def test_push_writes_the_current_releases_env_and_the_hosts(tmp_path: Path) -> None:
    (tmp_path / "releases" / "0.1.0").mkdir(parents=True)
    (tmp_path / "deliver.env").write_text("export OLD=1\n")
    assert kept_env(REMOTE, str(tmp_path), "0.1.0") == "none"
    push_env(REMOTE, str(tmp_path), "0.1.0", "export NEW=1\n")
    kept = tmp_path / "releases" / "0.1.0" / ".deliver-env"
    for path in (kept, tmp_path / "deliver.env"):
        assert path.read_text() == "export NEW=1\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_env(REMOTE, str(tmp_path), "0.1.0") == "same"
    (tmp_path / "deliver.env").write_text("export OTHER=1\n")
    assert kept_env(REMOTE, str(tmp_path), "0.1.0") == "differs"
    assert sorted(p.name for p in kept.parent.iterdir()) == [".deliver-env"]  # no temp left


def test_the_health_url_comes_from_the_env_the_node_boots_with(tmp_path: Path) -> None:
    (tmp_path / "releases" / "0.1.0").mkdir(parents=True)
    (tmp_path / "releases" / "0.1.0" / ".deliver-env").write_text(
        env_file_text({"PORT": "4000", "TOKEN": "old-token"})
    )
    (tmp_path / "deliver.env").write_text(env_file_text({"PORT": "4002", "TOKEN": "x"}))
    check = HealthCheck(url="http://127.0.0.1:{PORT}/health?t={TOKEN}")
    roots = {"localhost": str(tmp_path)}
    kept = booted_urls(check, ENV, [REMOTE], roots, "0.1.0")["localhost"]
    assert kept.shown == "http://127.0.0.1:4000/health?t=****"  # TOKEN is a secret in .deliver
    assert isinstance(kept.value, Secret)
    assert kept.value.value == "http://127.0.0.1:4000/health?t=old-token"
    assert booted_urls(check, ENV, [REMOTE], roots)["localhost"].shown == (
        "http://127.0.0.1:4002/health?t=****"
    )
    assert booted_urls(HealthCheck(), ENV, [REMOTE], roots) == {}


@pytest.mark.parametrize(
    ("kept", "notes"),
    [
        ({"web1": "same", "web2": "same"}, []),
        (
            {"web1": "differs", "web2": "none"},
            [
                "restoring the env 0.1.0 was deployed with on web1 "
                "(releases/0.1.0/.deliver-env): it differs from the env they had",
                "web2 keep no env of 0.1.0 (deployed by an older deliver): it boots with their "
                "deliver.env as it is",
            ],
        ),
    ],
)
def test_a_rollback_says_which_env_it_boots(kept: dict[str, str], notes: list[str]) -> None:
    assert rollback_notes("0.1.0", kept) == notes


def test_the_booted_env_is_the_running_releases_kept_one_else_deliver_env(tmp_path: Path) -> None:
    root = tmp_path
    assert booted_env(REMOTE, str(root), None) == BootedEnv(None)
    (root / "releases" / "0.1.0").mkdir(parents=True)
    (root / "deliver.env").write_text("export PORT=4002\n")
    # no node started: what a start boots; a release that keeps no env: deliver.env too
    for running in (None, "0.1.0"):
        found = booted_env(REMOTE, str(root), running)
        assert (found.file, found.text) == ("deliver.env", "export PORT=4002\n")
        assert found.sha256 == hashlib.sha256(b"export PORT=4002\n").hexdigest()
    kept = root / "releases" / "0.1.0" / ".deliver-env"
    kept.write_text("export PORT=4001\n")
    (root / "running").symlink_to("releases/0.1.0")
    os.utime(root / "running", (1_000_000, 1_000_000), follow_symlinks=False)
    os.utime(kept, (999_999, 999_999))
    found = booted_env(REMOTE, str(root), "0.1.0")
    assert (found.file, found.text, found.written_after_start) == (
        "releases/0.1.0/.deliver-env",
        "export PORT=4001\n",
        False,
    )
    os.utime(kept, (1_000_001, 1_000_001))  # env push after the start, without a restart
    assert booted_env(REMOTE, str(root), "0.1.0").written_after_start
    kept.unlink()
    kept.symlink_to(root / "deliver.env")  # a link is not deliver's: never read through
    assert booted_env(REMOTE, str(root), "0.1.0").file == "deliver.env"


def test_shown_env_shows_only_the_plain_values_of_deliver() -> None:
    text = "export PORT='4001'\nexport TOKEN='s3cret-token'\nexport OLD_KEY='gone-from-deliver'\n"
    known = {"PORT": "4000", "TOKEN": Secret("s3cret-token")}
    assert shown_env(text, known) == [("PORT", "4001"), ("TOKEN", "****"), ("OLD_KEY", "****")]
