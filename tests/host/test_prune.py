"""Pruning in one script (host/prune.py) chooses on the host what HostReleases.prunable
chooses in deliver, over many random layouts run for real with /bin/sh (LocalRemote)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deliver.host.layout import read_host_releases
from deliver.host.prune import prune_host, prune_script
from tests.host.test_scripts import APP, add_release, link, local, new_root, write_history

VERSIONS = ["0.1.0", "0.1.1", "0.2.0", "0.10.0", "1.0.0", "1.0.0+2-abc", "2.0.0", "2.1.3"]
KINDS = ["deployed", "started", "failed", "rolled_back"]


def random_host(root: Path, rng: random.Random) -> None:
    """Releases, hot-upgrade aliases, a history, current and maybe running, as deploys,
    failures, rollbacks and hot upgrades can leave them."""
    held = rng.sample(VERSIONS, rng.randint(1, len(VERSIONS)))
    for version in held:
        add_release(root, version)
    spare = [v for v in VERSIONS if v not in held]
    for alias in rng.sample(spare, min(len(spare), rng.randint(0, 2))):
        link(root / "releases" / alias, rng.choice(held))
    names = held + [p.name for p in (root / "releases").iterdir() if p.is_symlink()]
    events = [f"{rng.choice(KINDS)} {rng.choice(VERSIONS)}" for _ in range(rng.randint(0, 12))]
    if events or rng.random() < 0.5:
        write_history(root, *events)
    link(root / "current", f"releases/{rng.choice(names)}")
    if rng.random() < 0.6:
        link(root / "running", f"releases/{rng.choice(held)}")


@pytest.mark.parametrize("seed", range(30))
def test_the_host_chooses_what_deliver_would(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    root = new_root(tmp_path)
    random_host(root, rng)
    keep = rng.randint(1, 5)
    expected = read_host_releases(local(), str(root), APP).prunable(keep)
    running = (root / "running").resolve() if (root / "running").exists() else None

    assert prune_host(local(), str(root), keep) == expected
    left = read_host_releases(local(), str(root), APP)
    assert not set(expected) & set(left.present)
    if running is not None:
        assert running.is_dir()  # the node's directory stays


def test_the_running_node_s_directory_is_never_removed_whatever_the_listing_says(
    tmp_path: Path,
) -> None:
    root = new_root(tmp_path)
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        add_release(root, version)
    link(root / "current", "releases/0.3.0")
    link(root / "running", "releases/0.1.0")
    # the listing is read once; say 0.1.0 were chosen anyway: the host's own check keeps it
    script = prune_script(str(root), 1).replace("print present[i]", "print present[i]; print run")
    assert "REMOVED=0.1.0" not in local().run(script).stdout
    assert (root / "releases" / "0.1.0").is_dir() and not (root / "releases" / "0.2.0").exists()


def test_a_host_without_a_current_release_is_left_alone(tmp_path: Path) -> None:
    root = new_root(tmp_path)
    add_release(root, "0.1.0")
    assert prune_host(local(), str(root), 1) == []
    assert prune_host(local(), str(tmp_path / "nothing here"), 1) == []
    assert (root / "releases" / "0.1.0").is_dir()
