"""Health check URLs: filled from each host's env, secrets kept out of what is shown."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote

import pytest

from deliver.config import Environment, HealthCheck, HostSpec
from deliver.errors import NodeError, UsageError
from deliver.host.health import HealthUrl, check_health, health_url, health_urls
from deliver.shell import Secret
from deliver.transport.local import LocalRemote
from deliver.transport.remote import Result


def test_url_is_filled_from_the_host_env() -> None:
    check = HealthCheck("http://127.0.0.1:{PORT}{HEALTH_PATH}")
    url = health_url(check, {"PORT": "4001", "HEALTH_PATH": "/up"}, "web1")
    assert url == HealthUrl("http://127.0.0.1:4001/up", "http://127.0.0.1:4001/up")


def test_a_secret_in_the_url_makes_it_secret_and_is_masked_when_shown() -> None:
    check = HealthCheck("http://127.0.0.1:{PORT}/health?token={TOKEN}")
    url = health_url(check, {"PORT": "4001", "TOKEN": Secret("hunter2")}, "web1")
    assert url.value == Secret("http://127.0.0.1:4001/health?token=hunter2")
    assert url.shown == "http://127.0.0.1:4001/health?token=****"


def test_each_host_gets_its_own_url_and_a_missing_name_fails_before_anything_runs() -> None:
    hosts = (
        HostSpec.parse("web1", {"PORT": "4001"}),
        HostSpec.parse("web2", {"PORT": "4002"}),
        HostSpec.parse("web3"),
    )
    env = Environment("production", hosts, "~/app")
    check = HealthCheck("http://127.0.0.1:{PORT}/")
    assert health_urls(check, env, hosts[:2])["web2"].shown == "http://127.0.0.1:4002/"
    with pytest.raises(UsageError, match=r"health_check.url: \{PORT\} is not in the env of web3"):
        health_urls(check, env, hosts)
    assert health_urls(HealthCheck(), env, hosts) == {}


class _Recorder(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(200 if self.path.startswith("/up") else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on loopback: 200 on /up..., 503 elsewhere; yields its port and the paths
    it was asked for."""
    _Recorder.paths = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield httpd.server_address[1], _Recorder.paths
    httpd.shutdown()
    httpd.server_close()
    thread.join()


class Recording(LocalRemote):
    """The local transport, keeping every command line it ran."""

    def __init__(self) -> None:
        super().__init__(HostSpec.parse("localhost"))
        self.commands: list[str] = []

    def run(
        self,
        command: str,
        *,
        step: str | None = None,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> Result:
        self.commands.append(command)
        return super().run(command, step=step, check=check, stdin=stdin)


#: curl's and wget's config/URL syntax has quotes, backslashes and `$` to get wrong
TOKEN = "t0k'en\"\\$HOME`x`"


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_the_url_reaches_the_client_on_stdin_never_on_a_command_line(
    server: tuple[int, list[str]],
    client: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, paths = server
    if client == "wget":  # a host without curl
        for tool in ("wget", "sleep"):
            (tmp_path / tool).symlink_to(shutil.which(tool) or tool)
        monkeypatch.setenv("PATH", str(tmp_path))
    check = HealthCheck(f"http://127.0.0.1:{port}/up?token={{TOKEN}}", retries=1)
    url = health_url(check, {"TOKEN": Secret(TOKEN)}, "localhost")
    remote = Recording()
    assert check_health(remote, url, check) == "200"
    sent = paths[0] if client == "curl" else unquote(paths[0])  # wget percent-encodes
    assert sent == f"/up?token={TOKEN}"
    assert remote.commands and all("t0k" not in command for command in remote.commands)


def test_a_failing_url_is_named_with_its_secrets_masked(server: tuple[int, list[str]]) -> None:
    port, paths = server
    check = HealthCheck(f"http://127.0.0.1:{port}/down?t={{T}}", retries=2, interval=0.01)
    url = health_url(check, {"T": Secret("hunter2\nx")}, "localhost")
    with pytest.raises(NodeError) as failed:
        check_health(Recording(), url, check)
    assert str(failed.value) == (
        f"localhost: health check failed: http://127.0.0.1:{port}/down?t=**** answered 503"
        " (2 attempts)"
    )
    assert paths == ["/down?t=hunter2%0Ax"] * 2  # a line break cannot end the URL early
