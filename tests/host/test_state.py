"""What a host runs now, read on this machine (LocalRemote) from a fake deploy layout whose
`bin/hello` answers as a node that is up or down."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliver.config import HostSpec
from deliver.host.state import HostNow, host_now
from deliver.transport.local import LocalRemote


def _layout(root: Path, directory: str, boots: str, up: bool) -> None:
    """releases/<directory> booting `boots` (a hot upgrade rewrites start_erl.data), current
    and running pointing at it, a start script whose liveness check says `up`."""
    release = root / "releases" / directory
    (release / "releases").mkdir(parents=True)
    (release / "releases" / "start_erl.data").write_text(f"13.1.5 {boots}\n")
    (release / ".deliver-tool").write_text("mix\n")
    (release / "bin").mkdir()
    script = release / "bin" / "hello"
    script.write_text("#!/bin/sh\necho 4242\nexit 0\n" if up else "#!/bin/sh\nexit 1\n")
    script.chmod(0o755)
    for link in ("current", "running"):
        (root / link).symlink_to(f"releases/{directory}")


@pytest.mark.parametrize(
    ("boots", "up", "row"),
    [
        ("0.1.0", True, HostNow("localhost", "0.1.0", "0.1.0", True, version="0.1.0")),
        # hot-upgraded in its directory: the node runs what the directory boots now
        ("0.2.0", True, HostNow("localhost", "0.1.0", "0.1.0", True, version="0.2.0")),
        ("0.2.0", False, HostNow("localhost", "0.1.0", "0.1.0", False, version="0.2.0")),
        # what a host says goes on a terminal: anything but a version is not shown
        ("0.2.0\x1b[2J", True, HostNow("localhost", "0.1.0", "0.1.0", True, version=None)),
    ],
)
def test_a_row_says_what_the_node_runs(tmp_path: Path, boots: str, up: bool, row: HostNow) -> None:
    _layout(tmp_path, "0.1.0", boots, up)
    now = host_now(LocalRemote(HostSpec.parse("localhost")), str(tmp_path), "hello")
    assert now == row
    assert now.runs == ((row.version or "0.1.0") if up else None)


def test_a_host_with_nothing_deployed_is_a_row_of_dashes(tmp_path: Path) -> None:
    now = host_now(LocalRemote(HostSpec.parse("localhost")), str(tmp_path), "hello")
    assert now == HostNow("localhost", up=False)
