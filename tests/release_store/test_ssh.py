"""A release store on the sandbox's `store` host over SSH: build pushes from the build host,
deploy hosts pull from the store host, and the store commands, all against real sshd hosts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deliver.config.load import load_config
from deliver.release import Release
from deliver.release_store import LocalStore, open_store
from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app, on_host
from tests.conftest import BuiltApp, git, make_app_repo, run_cli, write_config
from tests.release_store.test_appups import check_hostile, check_round_trip, upgrade_in
from tests.release_store.test_base import (
    good_release,
    output,
    plant,
    shown_name,
    warnings_by_file,
)

pytestmark = pytest.mark.slow


def fake_release(version: str, data: bytes) -> Release:
    """A release whose archive is `data`: enough for the store, never extracted."""
    digest = hashlib.sha256(data).hexdigest()
    return Release(
        "hello", version, "0" * 40, "main", "mix", "2026-01-01T00:00:00Z", digest, len(data)
    )


def add_fake(directory: Path, version: str, data: bytes) -> None:
    LocalStore(directory).add(fake_release(version, data), lambda file: file.write(data))


def store_files(sandbox: Sandbox, directory: str) -> list[str]:
    return on_host(sandbox, "store", f"ls -A ~/{directory}").split()


def untouched(sandbox: Sandbox, deliver_to: str) -> bool:
    """Neither target holds more than the empty releases directory preflight creates (and
    the audit log's line for the refused deploy)."""
    listing = ".:\nreleases\n\nreleases:"
    return all(
        on_host(sandbox, host, f"cd {deliver_to} && ls -A . releases | grep -vx deliver.audit")
        == listing
        for host in ("web1", "web2")
    )


@contextmanager
def emptied(path: Path) -> Iterator[None]:
    """`path` is empty for the duration of the block, then has its content back."""
    saved = path.read_text()
    path.write_text("")
    try:
        yield
    finally:
        path.write_text(saved)


def test_build_pushes_to_the_store_and_hosts_fetch_from_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = write_config(
        repo / ".deliver", sandbox, deliver_to="~/ssh_store_trip", store="store:releases-trip"
    )
    build = run_cli("--config", config, "build", "release")
    assert build.exit_code == 0, build.output
    assert "Storing hello_0.1.0.release.tar.gz (5" in build.stdout
    assert "Built hello 0.1.0 -> store:~/releases-trip/hello_0.1.0.release.tar.gz" in build.stdout
    assert not (repo / ".deliver-releases").exists()

    assert store_files(sandbox, "releases-trip") == [
        "hello_0.1.0.release.json",
        "hello_0.1.0.release.tar.gz",
    ]
    manifest = json.loads(on_host(sandbox, "store", "cat ~/releases-trip/hello_0.1.0.release.json"))
    digest = on_host(sandbox, "store", "sha256sum ~/releases-trip/hello_0.1.0.release.tar.gz")
    assert manifest["sha256"] == digest.split()[0]
    assert manifest["commit"] == git(repo, "rev-parse", "HEAD")

    try:
        deploy = run_cli("--config", config, "deploy", "release", "production", "--start-deploy")
        assert deploy.exit_code == 0, deploy.output
        assert "Fetching from store:~/releases-trip onto 2 host(s) and extracting" in deploy.stdout
        assert ask_app(sandbox, "web1") == "hello 0.1.0\n"
        assert ask_app(sandbox, "web2") == "hello 0.1.0\n"
    finally:
        run_cli("--config", config, "stop", "production")
    shown = run_cli("--config", config, "show", "releases")
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["VERSION", "0.1.0"]


def test_upload_download_and_prune(sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path) -> None:
    local = tmp_path / "local"
    add_fake(local, "0.0.9", b"an older build")
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to="~/unused", store="store:releases-commands"
    )
    for version, directory in (("0.0.9", local), ("0.1.0", built_app.store)):
        upload = run_cli("--config", config, "upload", "release", version, "--dir", directory)
        assert upload.exit_code == 0, upload.output
    assert "Uploaded hello 0.1.0 -> store:~/releases-commands/" in upload.stdout
    shown = run_cli("--config", config, "show", "releases")
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["VERSION", "0.0.9", "0.1.0"]

    again = run_cli("--config", config, "upload", "release", "0.1.0", "--dir", built_app.store)
    assert again.exit_code == 0 and "already holds hello 0.1.0" in again.stdout
    rebuilt = tmp_path / "rebuilt"
    add_fake(rebuilt, "0.0.9", b"a different build")
    refused = run_cli("--config", config, "upload", "release", "0.0.9", "--dir", rebuilt)
    assert refused.exit_code == 2
    assert "store:~/releases-commands already holds a different build of hello 0.0.9" in (
        refused.stderr
    )
    assert "hint: --force replaces it" in refused.stderr

    download = run_cli("--config", config, "download", "release", "--dir", tmp_path / "down")
    assert download.exit_code == 0, download.output
    archive = "hello_0.1.0.release.tar.gz"
    assert (tmp_path / "down" / archive).read_bytes() == (built_app.store / archive).read_bytes()

    pruned = run_cli("--config", config, "prune", "releases", "--keep", "1")
    assert pruned.exit_code == 0, pruned.output
    assert "removed 0.0.9" in pruned.stdout and "Kept 0.1.0" in pruned.stdout
    assert store_files(sandbox, "releases-commands") == [
        "hello_0.1.0.release.json",
        "hello_0.1.0.release.tar.gz",
    ]


def test_hosts_that_cannot_log_in_to_the_store_fail_before_any_change(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = write_config(
        repo / ".deliver", sandbox, deliver_to="~/store_untrusted", store="store:releases-trust"
    )
    upload = run_cli("--config", config, "upload", "release", "--dir", built_app.store)
    assert upload.exit_code == 0, upload.output

    with emptied(Path(sandbox.host("web1").home) / ".ssh" / "known_hosts"):
        deploy = run_cli("--config", config, "deploy", "release", "production")
    assert deploy.exit_code == 1
    assert "preflight failed on 1 host(s): web1" in deploy.stderr
    assert "web1 cannot log in to the release store host store" in deploy.stderr
    assert "Host key verification failed" in deploy.stderr
    assert "hint: the build and deploy hosts connect to the store host themselves" in deploy.stderr
    assert untouched(sandbox, "~/store_untrusted")

    with emptied(Path(sandbox.build_host.home) / ".ssh" / "known_hosts"):
        # a version the store lacks: 0.1.0 there is another commit's build (build/identity.py)
        build = run_cli("--config", config, "build", "release", "--set-version=0.1.5")
    assert build.exit_code == 1, build.output
    assert "build cannot log in to the release store host store" in build.stderr
    assert "Preparing build directory" not in build.stdout


def test_corrupted_archive_is_never_switched_to(
    sandbox: Sandbox, built_app: BuiltApp, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to="~/store_corrupt", store="store:releases-bad"
    )
    upload = run_cli("--config", config, "upload", "release", "--dir", built_app.store)
    assert upload.exit_code == 0, upload.output
    on_host(sandbox, "store", "printf x >> ~/releases-bad/hello_0.1.0.release.tar.gz")

    deploy = run_cli("--config", config, "deploy", "release", "production")
    assert deploy.exit_code == 1
    assert "prepare failed on 2 host(s): web1, web2" in deploy.stderr
    assert "the archive arrived corrupted (sha256 mismatch)" in deploy.stderr
    assert untouched(sandbox, "~/store_corrupt")


def test_tampered_manifests_are_named_and_skipped(sandbox: Sandbox, tmp_path: Path) -> None:
    directory = Path(sandbox.host("store").home) / "releases-tampered"
    good = good_release(directory)
    planted = plant(directory, good)
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to="~/unused", store="store:releases-tampered"
    )
    shown = run_cli("--config", config, "show", "releases")
    assert shown.exit_code == 0, shown.output
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["VERSION", "0.1.0"]
    assert warnings_by_file(shown.stderr, "store:~/releases-tampered") == {
        shown_name(name): field for name, field in planted.items()
    }
    asked = run_cli("--config", config, "download", "release", "0.2.0", "--dir", tmp_path)
    assert asked.exit_code == 1
    assert "error: store:~/releases-tampered/hello_0.2.0.release.json: sha256: expected" in (
        asked.stderr
    )
    assert not (tmp_path / "hello_0.2.0.release.tar.gz").exists()


def test_appups_are_kept_beside_the_upgrade_and_hostile_ones_skipped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    directory = Path(sandbox.host("store").home) / "releases-appups"
    upgrade = upgrade_in(directory)
    config = write_config(
        tmp_path / "deliver.yml", sandbox, deliver_to="~/unused", store="store:releases-appups"
    )
    out, stderr = output()
    with open_store(load_config(config), out) as store:
        check_round_trip(store, upgrade)
        appups = directory / f"{upgrade.archive_name}.appups"
        assert not [p for p in directory.iterdir() if p.name.endswith(".part")]

        def plant(name: str, content: bytes) -> None:
            (appups / name).parent.mkdir(parents=True, exist_ok=True)
            (appups / name).write_bytes(content)

        check_hostile(store, upgrade, plant, stderr)
        (appups / "hello/0.0.9-0.2.0.appup").symlink_to(directory / upgrade.manifest_name)
        stderr.truncate(0)
        assert [a.name for a in store.appups(upgrade)] == ["hello/0.1.0-0.2.0.appup"]
        assert "hello/0.0.9-0.2.0.appup: cannot be read: not a regular file" in stderr.getvalue()
        store.remove(upgrade)
    assert not appups.exists()
