"""The fault suite: a deploy of 0.1.1 over web1 and web2 (both on 0.1.0), broken on purpose at
each step, on real sandbox hosts. After each one: every host runs 0.1.0 or 0.1.1 whole, never
stopped; all of them the same one (two-phase: a failure takes the switched hosts back); the
exit status; and the message names the host, shows the state table and the way on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bump_version, make_app_repo, run_cli, write_config
from tests.faults.conftest import HOSTS, NEW, OLD, Fleet, start_deliver
from tests.faults.injectors import fault, fired, restart_sshd, sshd_down

pytestmark = pytest.mark.slow

AGAIN = f"deliver deploy release to production --version {NEW} --start-deploy"
BACK_AS_BEFORE = f"hint: every host runs what it ran before; to try again: {AGAIN}"


def table_row(text: str, host: str, current: str, running: str, node: str) -> bool:
    row = rf"^  {host} +{re.escape(current)} +{re.escape(running)} +{node}"
    return re.search(row, text, re.M) is not None


def assert_reverted(fleet: Fleet, text: str, *failed: str) -> None:
    """Every host back on 0.1.0; the message names the failed hosts, shows the table, and
    says how to try again."""
    for host in failed:
        assert re.search(rf"failed on \d host\(s\): .*{host}", text), text
    for host in HOSTS:
        assert table_row(text, host, OLD, OLD, "up"), text
    assert "every host runs what it ran before" in text
    assert "Traceback" not in text
    fleet.assert_all(OLD)


# the connection killed at each step, on one host and on all ----------------------------------


@pytest.mark.parametrize("moment", ["upload", "extract", "switch", "restart"])
@pytest.mark.parametrize("cut", [["web2"], ["web1", "web2"]], ids=["one-host", "all-hosts"])
def test_connection_killed(fleet: Fleet, moment: str, cut: list[str]) -> None:
    # all at once: every host is in that step together (and the case takes less time)
    with fault(fleet.sandbox, cut, moment):
        result = fleet.deploy(NEW, "--start-deploy", "--all-at-once")
        assert all(fired(fleet.sandbox, host, moment) for host in cut), result.output
    assert result.exit_code == 3, result.output
    assert re.search(r"connection lost|upload interrupted", result.stderr), result.stderr
    if moment in ("switch", "restart"):  # web2 was switched (or half): it went back
        assert "switched back to 0.1.0: " in result.stderr and "web2" in result.stderr
    assert_reverted(fleet, result.stderr, *cut)


def test_host_unreachable_at_preflight(fleet: Fleet) -> None:
    with sshd_down(fleet.sandbox, "web2"):
        result = fleet.deploy(NEW, "--start-deploy")
        assert result.exit_code == 3
        assert "connect failed on 1 host(s): web2" in result.stderr
        assert re.search(r"^  web2 +- +- +unknown: cannot connect to web2", result.stderr, re.M)
        assert table_row(result.stderr, "web1", OLD, OLD, "up")
        assert "every host runs what it ran before" in result.stderr
    fleet.assert_all(OLD)


def test_sshd_restarted_between_phases(fleet: Fleet) -> None:
    """A restarted sshd (an OpenSSH upgrade) keeps the sessions it serves: the deploy goes on
    over its connections while the listener is gone and back."""
    with fault(fleet.sandbox, list(HOSTS), "switch", harm="slow"):
        restarter = threading.Timer(1.0, restart_sshd, (fleet.sandbox, "web2"))
        running = start_deliver(fleet.config, "deploy", "release", "production", "--start-deploy")
        running.wait_for("Switching to")
        restarter.start()
        code = running.finish()
        restarter.join()
    assert code == 0, running.output
    fleet.assert_all(NEW)


# the host's disk, for real: a small tmpfs mounted as web2's deliver_to ----------------------


@pytest.fixture
def small_disk(fleet: Fleet, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where = Path(fleet.sandbox.host("web2").home) / "faults_disk"
    where.mkdir(exist_ok=True)
    size = request.param
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    config = write_config(
        tmp_path / "disk.yml", fleet.sandbox, deliver_to="~/faults_disk", store=fleet.store
    )
    try:
        yield config
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("small_disk", ["8m"], indirect=True)
def test_disk_full_at_preflight(fleet: Fleet, small_disk: Path) -> None:
    result = run_cli("--config", small_disk, "deploy", "release", "production")
    assert result.exit_code == 1
    assert "preflight failed on 1 host(s): web2" in result.stderr
    assert re.search(r"web2: not enough disk space in .*faults_disk: \d+ MiB free", result.stderr)
    assert re.search(r"^  web1 +- +- +down", result.stderr, re.M)
    assert "hint: every host runs what it ran before" in result.stderr
    assert not (Path(fleet.sandbox.host("web1").home) / "faults_disk" / "current").exists()


@pytest.mark.parametrize("small_disk", ["40m"], indirect=True)
def test_disk_full_during_the_extraction(fleet: Fleet, small_disk: Path) -> None:
    """The preflight saw room; then the disk fills up (a hook writes a file until ENOSPC) and
    tar meets a full disk."""
    fill = '[ "$DELIVER_HOST" != web2 ] || dd if=/dev/zero of="$DELIVER_TO/filler" bs=64k || true'
    text = small_disk.read_text() + f"hooks:\n  pre_extract: {json.dumps(fill)}\n"
    small_disk.write_text(text)
    result = run_cli("--config", small_disk, "deploy", "release", "production")
    assert result.exit_code == 1, result.output
    assert "prepare failed on 1 host(s): web2" in result.stderr
    assert "No space left on device" in result.stderr
    assert re.search(r"^  web2 +- +- +down", result.stderr, re.M)
    assert "to finish: deliver deploy release to production --version" in result.stderr
    web2 = Path(fleet.sandbox.host("web2").home) / "faults_disk"
    assert not (web2 / "current").exists()
    assert not list((web2 / "releases").glob(".*.new.*"))  # the half extraction is gone


# the build, the hooks, the migrations and the app itself failing ------------------------------


def test_build_failure(fleet: Fleet, tmp_path: Path) -> None:
    repo = make_app_repo(tmp_path / "hello")
    endpoint = repo / "lib" / "hello" / "endpoint.ex"
    endpoint.write_text(endpoint.read_text() + "\ndefmodule Broken do\n  def x(, do: 1\nend\n")
    bump_version(repo, "0.1.2")
    store = tmp_path / "store"
    config = write_config(repo / ".deliver", fleet.sandbox, deliver_to="~/faults", store=store)
    result = run_cli("--config", config, "build", "release")
    assert result.exit_code == 1
    assert "build" in result.stderr and "endpoint.ex" in result.output
    assert "Traceback" not in result.output
    assert not list(store.glob("hello_0.1.2*"))
    fleet.assert_all(OLD)


def test_hook_failure_before_the_switch(fleet: Fleet) -> None:
    fleet.hooks(pre_extract='[ "$DELIVER_HOST" != web2 ] || { echo "no room for it"; exit 3; }')
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "no room for it" in result.stderr
    assert_reverted(fleet, result.stderr, "web2")


def test_hook_failure_after_the_switch(fleet: Fleet) -> None:
    fleet.hooks(post_start='[ "$DELIVER_HOST:$VERSION" != web2:0.1.1 ] || exit 3')
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "restart failed on 1 host(s): web2" in result.stderr
    assert "switched back to 0.1.0: web1" in result.stderr
    assert_reverted(fleet, result.stderr, "web2")


def test_migration_failure(fleet: Fleet) -> None:
    fleet.edit(lambda data: data.update(migrations={"up": 'raise "the migration broke"'}))
    result = fleet.deploy(NEW, "--start-deploy", "--run-migrations")
    assert result.exit_code == 1
    assert "the migration broke" in result.stderr and "web1" in result.stderr
    for host in HOSTS:
        assert table_row(result.stderr, host, OLD, OLD, "up")
    assert BACK_AS_BEFORE in result.stderr
    fleet.assert_all(OLD)


def _break_new_release_on_web2(fleet: Fleet, line: str) -> None:
    """A post_extract hook that adds `line` to 0.1.1's env.sh on web2 only."""
    env_sh = '"$DELIVER_TO/releases/$VERSION/releases/$VERSION/env.sh"'
    fleet.hooks(
        post_extract=f'[ "$DELIVER_HOST:$VERSION" != web2:0.1.1 ] || echo {line!r} >> {env_sh}'
    )


def test_crash_on_boot(fleet: Fleet) -> None:
    # the port web2's own sshd listens on: the app cannot listen there and stops the node
    _break_new_release_on_web2(fleet, f"export PORT={fleet.sandbox.host('web2').port}")
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "web2: 0.1.1 crashed while starting" in result.stderr
    assert_reverted(fleet, result.stderr, "web2")
    assert fleet.history("web2")[-3:] == ["failed 0.1.1", "deployed 0.1.0", "started 0.1.0"]


def test_health_check_failing(fleet: Fleet) -> None:
    # the node starts, but the app listens elsewhere: the health URL is refused
    _break_new_release_on_web2(fleet, f"export PORT={fleet.sandbox.host('build').app_port}")
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "web2: health check failed" in result.stderr
    assert_reverted(fleet, result.stderr, "web2")


# two people, and what they leave behind --------------------------------------------------------


def _slow_restarts(fleet: Fleet) -> None:
    fleet.hooks(pre_start="sleep 2")


def test_two_concurrent_deploys(fleet: Fleet) -> None:
    _slow_restarts(fleet)
    first = start_deliver(fleet.config, "deploy", "release", "production", "--start-deploy")
    first.wait_for("batch 1/2")
    second = fleet.deploy(OLD, "--start-deploy")
    assert second.exit_code == 1
    assert re.search(
        r"production is locked by \S+ since .* \(deploy release 0.1.1\)", second.stderr
    )
    assert "deliver lock release production --force" in second.stderr
    assert first.finish() == 0, first.output
    fleet.assert_all(NEW)


def test_deploy_during_a_restart(fleet: Fleet) -> None:
    _slow_restarts(fleet)
    restart = start_deliver(fleet.config, "restart", "production")
    restart.wait_for("batch 1/2")
    deploy = fleet.deploy(NEW, "--start-deploy")
    assert deploy.exit_code == 1
    assert re.search(r"production is locked by \S+ since .* \(restart\)", deploy.stderr)
    assert restart.finish() == 0, restart.output
    fleet.assert_all(OLD)


def test_a_stale_lock(fleet: Fleet) -> None:
    assert fleet.cli("lock", "acquire", "production", "-m", "left behind").exit_code == 0
    info = fleet.root("web1") / ".deliver.lock" / "info"
    info.write_text(info.read_text().replace("EXPIRES=", "EXPIRES=1\nOLD="))
    refused = fleet.deploy(NEW, "--start-deploy")
    assert refused.exit_code == 1
    assert "web1" in refused.stderr and "stale: it expired at" in refused.stderr
    assert "deliver lock release production --force" in refused.stderr
    fleet.assert_all(OLD)
    assert fleet.cli("lock", "release", "production", "--force").exit_code == 0


# archives that are not what they claim -----------------------------------------------------------


def _store_copy(fleet: Fleet, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(fleet.store, store)
    fleet.edit(lambda data: data.update(release_store=str(store)))
    return store


def test_a_corrupted_archive_in_the_store(fleet: Fleet, tmp_path: Path) -> None:
    store = _store_copy(fleet, tmp_path)
    archive = store / f"hello_{NEW}.release.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "sha256" in result.stderr
    assert_reverted(fleet, result.stderr, "web1")


def test_a_corrupted_archive_on_a_host(fleet: Fleet) -> None:
    releases = fleet.root("web2") / "releases"
    good = json.loads((fleet.store / f"hello_{NEW}.release.json").read_text())["sha256"]
    (releases / f"{NEW}.tar.gz").write_bytes(b"not an archive")
    (releases / f"{NEW}.tar.gz.sha256").write_text(good + "\n")  # the side file claims it is
    shutil.rmtree(releases / NEW, ignore_errors=True)
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "prepare failed on 1 host(s): web2" in result.stderr and "sha256" in result.stderr
    assert_reverted(fleet, result.stderr, "web2")
    assert not (releases / f"{NEW}.tar.gz").exists()  # removed: the next deploy uploads it


def test_a_teammates_build_of_the_same_commit(fleet: Fleet, tmp_path: Path) -> None:
    """Another build of the commit 0.1.1 came from (the same files, other archive bytes), as
    a teammate's clone makes it. The outcome main has when this was written (identity's
    rule): every host on 0.1.1 refuses it, naming both commits and sha256s and the ways out
    (a new version, or --force); nothing changes."""
    assert fleet.deploy(NEW, "--start-deploy").exit_code == 0
    store = _store_copy(fleet, tmp_path)
    archive = store / f"hello_{NEW}.release.tar.gz"
    rebuilt = gzip.compress(gzip.decompress(archive.read_bytes()), compresslevel=1, mtime=1)
    archive.write_bytes(rebuilt)
    manifest = store / f"hello_{NEW}.release.json"
    fields = json.loads(manifest.read_text())
    fields |= {"sha256": hashlib.sha256(rebuilt).hexdigest(), "size": len(rebuilt)}
    manifest.write_text(json.dumps(fields, indent=2))
    result = fleet.deploy(NEW, "--start-deploy")
    assert result.exit_code == 1
    assert "preflight failed on 2 host(s): web1, web2" in result.stderr
    commit = fields["commit"][:10]
    assert re.search(
        rf"web1: holds a different build of hello 0\.1\.1: commit {commit} \(sha256 \w+\) "
        rf"on the host, commit {commit} \(sha256 {fields['sha256'][:16]}\) in the store",
        result.stderr,
    ), result.stderr
    assert table_row(result.stderr, "web1", NEW, NEW, "up")
    assert "or replace the hosts' build with deliver deploy release --force" in result.stderr
    assert "(every host runs what it ran before)" in result.stderr
    fleet.assert_all(NEW)
