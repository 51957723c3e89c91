"""The release store family without servers: the local directory, the commands hosts run to
reach a store, the store commands on a local store, and a store that cannot be reached."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from deliver.config import HostSpec, SshSettings, SshStoreSpec
from deliver.errors import StoreError
from deliver.release import Release
from deliver.release_store import LocalStore
from deliver.release_store.s3 import _curl_string
from deliver.release_store.ssh import SshStore
from tests.conftest import make_app_repo, run_cli


def release(app: str, version: str, data: bytes) -> Release:
    digest = hashlib.sha256(data).hexdigest()
    return Release(app, version, "0" * 40, "main", "mix", "2026-01-01T00:00:00Z", digest, len(data))


def fill(directory: Path, *versions: str, app: str = "hello") -> LocalStore:
    store = LocalStore(directory)
    for version in versions:
        data = f"{app} {version}".encode()
        store.add(release(app, version, data), lambda file, data=data: file.write(data))
    return store


@pytest.mark.parametrize(
    ("store", "command", "expected"),
    [
        (
            "store:releases",
            "true",
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 store true",
        ),
        (
            "ssh://deploy@10.0.0.9:2222/srv/releases",
            "cat \"$HOME\"/'x y'",
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -p 2222 "
            "deploy@10.0.0.9 'cat \"$HOME\"/'\"'\"'x y'\"'\"''",
        ),
    ],
)
def test_hosts_reach_an_ssh_store_without_prompts_or_blind_trust(
    tmp_path: Path, store: str, command: str, expected: str
) -> None:
    from deliver.config.load import load_config

    (tmp_path / ".deliver").write_text(f"app: hello\nrelease_store: {store}\n")
    spec = load_config(tmp_path / ".deliver", environ={}).release_store
    assert isinstance(spec, SshStoreSpec)
    assert SshStore(spec, SshSettings()).ssh_command(command) == expected


def test_unquoted_host_spec_for_ssh_store() -> None:
    spec = SshStoreSpec(HostSpec.parse("store"), "~/releases")
    assert SshStore(spec, SshSettings()).directory == '"$HOME"/releases'


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("http://s3/b/k?X-Amz-Signature=ab%2Fc", '"http://s3/b/k?X-Amz-Signature=ab%2Fc"'),
        ('/srv/my "app"/x', '"/srv/my \\"app\\"/x"'),
        ("C:\\odd", '"C:\\\\odd"'),
    ],
)
def test_curl_config_values_are_quoted(value: str, quoted: str) -> None:
    assert _curl_string(value) == quoted


def test_an_app_sees_only_its_own_releases(tmp_path: Path) -> None:
    fill(tmp_path, "0.1.0", app="hello_admin")
    store = fill(tmp_path, "0.2.0")
    assert [r.version for r in store.releases("hello")] == ["0.2.0"]
    assert [r.app for r in store.releases("hello_admin")] == ["hello_admin"]


def test_prune_keeps_the_newest_versions(tmp_path: Path) -> None:
    fill(tmp_path / "store", "0.9.0", "0.10.0", "0.8.1")
    config = tmp_path / ".deliver"
    config.write_text("app: hello\nrelease_store: store\n")
    result = run_cli("--config", config, "prune", "releases", "--keep", "2")
    assert result.exit_code == 0, result.output
    assert "removed 0.8.1" in result.stdout and "Kept 0.9.0, 0.10.0" in result.stdout
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [
        "hello_0.10.0.release.json",
        "hello_0.10.0.release.tar.gz",
        "hello_0.9.0.release.json",
        "hello_0.9.0.release.tar.gz",
    ]
    again = run_cli("--config", config, "prune", "releases", "--keep", "2")
    assert "holds 2 release(s) of hello: kept" in again.stdout


@pytest.mark.parametrize("command", ["upload", "download"])
def test_upload_and_download_need_a_remote_store(tmp_path: Path, command: str) -> None:
    config = tmp_path / ".deliver"
    config.write_text("app: hello\n")
    result = run_cli("--config", config, command, "release", "0.1.0")
    assert result.exit_code == 2
    assert f"error: {command} copies releases between a local directory and a remote" in (
        result.stderr
    )
    assert 'hint: set release_store to "user@host:/path" or "s3://bucket/prefix"' in result.stderr


def test_upload_of_a_version_not_built_here(tmp_path: Path) -> None:
    fill(tmp_path / ".deliver-releases", "0.1.0")
    config = tmp_path / ".deliver"
    config.write_text("app: hello\nrelease_store: ssh://127.0.0.1:1/releases\n")
    result = run_cli("--config", config, "upload", "release", "0.2.0")
    assert result.exit_code == 1
    assert "no release 0.2.0 of hello in" in result.stderr and "(it has 0.1.0)" in result.stderr


def test_unreachable_store_host_stops_a_build_before_it_starts(tmp_path: Path) -> None:
    repo = make_app_repo(tmp_path / "hello")
    (repo / ".deliver").write_text(
        "app: hello\nbuild: {host: build.invalid}\nrelease_store: ssh://127.0.0.1:1/releases\n"
    )
    shown = run_cli("--config", repo / ".deliver", "show", "releases")
    assert shown.exit_code == 3
    assert shown.stderr.startswith("error: cannot connect to 127.0.0.1:1: connection refused")
    build = run_cli("--config", repo / ".deliver", "build", "release")
    assert build.exit_code == 3
    assert "cannot connect to 127.0.0.1:1" in build.stderr
    assert "Preparing build directory" not in build.stdout


def test_the_local_store_is_private_and_writes_only_fresh_names(tmp_path: Path) -> None:
    """Archives hold the Erlang cookie: 0600 files in a 0700 directory, each written to a
    new random name and renamed, so a link planted at the old fixed temp name is not
    followed. A directory that already exists keeps the mode its owner gave it."""
    outside = tmp_path / "outside"
    outside.write_text("not the store's\n")
    (tmp_path / "store").mkdir(mode=0o700)
    (tmp_path / "store" / ".hello_0.1.0.release.tar.gz.part").symlink_to(outside)
    store = fill(tmp_path / "store", "0.1.0")
    assert outside.read_text() == "not the store's\n"
    for name in ("hello_0.1.0.release.tar.gz", "hello_0.1.0.release.json"):
        assert (store.path / name).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in store.path.iterdir()) == [
        ".hello_0.1.0.release.tar.gz.part",
        "hello_0.1.0.release.json",
        "hello_0.1.0.release.tar.gz",
    ]

    new = fill(tmp_path / "new" / "store", "0.1.0")
    assert new.path.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    fill(shared, "0.1.0")
    assert shared.stat().st_mode & 0o777 == 0o750


def test_a_corrupted_archive_leaves_nothing_in_the_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    wrong = release("hello", "0.1.0", b"what the manifest says")
    with pytest.raises(StoreError, match="arrived corrupted"):
        store.add(wrong, lambda file: file.write(b"what arrived"))
    assert list(store.path.iterdir()) == []
