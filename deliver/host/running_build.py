"""Which build a host's node runs, against the build a hot upgrade expects: the same version
is not enough (a relup made from another build's beams may load the wrong code). The node's
directory records its own build (`.deliver-sha256`, `.deliver-revision`, written at deploy);
each hot step installed into it records its commit in the staged file (release_handler.py)."""

from __future__ import annotations

from deliver.errors import NodeError
from deliver.release import Release


def build_problem(
    upgrade: Release, version: str, node_root: str, values: dict[str, str]
) -> str | None:
    """Why the build of `version` the node runs from `node_root` is not the one `upgrade` was
    built from, or None; `values` are the preflight's answers. What the host does not know (a
    release deployed by an older deliver) is not held against it."""
    from_here = version == _name(node_root)  # not a hot step: the directory's own release
    sha256 = values.get("DIR_SHA256", "") if from_here else ""
    commit = values.get("DIR_COMMIT" if from_here else "RUN_COMMIT", "")
    from_commit, from_sha256 = upgrade.from_build(version)
    if from_sha256 and sha256 and sha256 != from_sha256:
        return (
            f"runs {version} from archive {sha256[:12]} (commit {commit[:10] or '?'}), "
            f"but the upgrade was built from archive {from_sha256[:12]} (commit "
            f"{(from_commit or '?')[:10]}): build the upgrade from the build the node "
            f"runs (deliver build upgrade --from={commit[:10] or '<its commit>'})"
        )
    if from_commit and commit and commit != from_commit:
        return (
            f"runs {version} built from commit {commit[:10]}, but the upgrade was "
            f"built from commit {from_commit[:10]}: build the upgrade from the build "
            f"the node runs (deliver build upgrade --from={commit[:10]})"
        )
    return None


def check_done(host: str, upgrade: Release, node_root: str, values: dict[str, str]) -> None:
    """A node on the upgrade's version is done (a rerun leaves it alone) if it runs the
    upgrade's build: the commit its hot step recorded, or its directory's for a cold deploy.
    NodeError when it runs another build of that version."""
    version = upgrade.version
    commit = values.get("DIR_COMMIT" if version == _name(node_root) else "RUN_COMMIT", "")
    if commit and commit != upgrade.commit:
        raise NodeError(
            host,
            f"runs {version} built from commit {commit[:10]}, not the upgrade's build "
            f"(commit {upgrade.commit[:10]}): deploy that build cold "
            f"(deliver deploy release --version={version} --start-deploy), or give the "
            "upgrade a new version",
        )


def _name(node_root: str) -> str:
    return node_root.rstrip("/").rsplit("/", 1)[-1]
