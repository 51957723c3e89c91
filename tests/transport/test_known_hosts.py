"""Reading known_hosts with its markers: OpenSSH's host patterns, and a file that never makes
deliver crash whatever lines it holds (connecting with it: test_connect.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from deliver.transport.known_hosts import KnownHosts, matches_patterns


@pytest.mark.parametrize(
    ("host", "patterns", "expected"),
    [
        ("web1", ("web1",), True),
        ("WEB1", ("web1",), True),
        ("web1", ("web2",), False),
        ("web1", ("*",), True),
        ("db.example.com", ("*.example.com",), True),
        ("example.com", ("*.example.com",), False),
        ("web1", ("web?",), True),
        ("web10", ("web?",), False),
        ("[127.0.0.1]:2222", ("[127.0.0.1]:2222",), True),
        ("[127.0.0.1]:2222", ("[127.0.0.1]:*",), True),
        ("1", ("[127.0.0.1]:2222",), False),  # brackets are not a character class
        ("web1", ("*", "!web1"), False),
        ("web2", ("*", "!web1"), True),
        ("web1", ("!web1",), False),
        ("web1", (paramiko.HostKeys.hash_host("web1"),), True),
        ("web2", (paramiko.HostKeys.hash_host("web1"),), False),
        ("web1", ("|1|not-base64|x",), False),
    ],
)
def test_marker_patterns_match_as_openssh_matches_them(
    host: str, patterns: tuple[str, ...], expected: bool
) -> None:
    assert matches_patterns(host, patterns) is expected


def public_key(tmp_path: Path, name: str) -> str:
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def test_no_line_makes_reading_fail(tmp_path: Path) -> None:
    key, other = public_key(tmp_path, "a"), public_key(tmp_path, "b")
    known = tmp_path / "known_hosts"
    known.write_text(
        "\n".join(
            [
                "# a comment",
                f"@revoked * {key}",
                f"@cert-authority *.example.com {other}",
                "@revoked",
                "@revoked * ssh-ed25519 not!base64",
                "@unknown-marker * ssh-ed25519 AAAA",
                "web1 ssh-ed25519 not!base64",
                "web1 ssh-made-up AAAA",
                "web1",
                f"web1,web2 {key}",
                f"web3 {other}",
                "\x00\xff garbage",
            ]
        )
        + "\n"
    )
    hosts = KnownHosts.load(known)
    assert len(hosts.revoked) == 1 and len(hosts.authorities) == 1
    assert hosts.trusted("web1") == {}  # its only key is revoked
    assert list(hosts.trusted("web3")) == ["ssh-ed25519"]
    assert hosts.authority_only("db.example.com") and not hosts.authority_only("web3")
    assert KnownHosts.load(tmp_path / "missing").trusted("web1") == {}
