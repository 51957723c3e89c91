"""The store commands' rule for a version the target already holds: the same build (bytes,
or commit, tool and MIX_ENV) is kept, another one is refused unless --force."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import pytest

from deliver.commands.store import _already_there
from deliver.errors import UsageError
from deliver.output import Output
from deliver.release import Release
from deliver.release_store import LocalStore


def stored(directory: Path, data: bytes, **fields: object) -> tuple[LocalStore, Release]:
    release = Release(
        "hello",
        "0.1.0",
        "a" * 40,
        "main",
        "mix",
        "2026-01-01T00:00:00Z",
        hashlib.sha256(data).hexdigest(),
        len(data),
        mix_env="prod",
    )
    release = replace(release, **fields)  # type: ignore[arg-type]
    store = LocalStore(directory)
    store.add(release, lambda file: file.write(data))
    return store, release


def test_a_rebuild_of_the_stored_commit_is_kept_and_another_commit_refused(
    tmp_path: Path,
) -> None:
    out = Output(io.StringIO(), io.StringIO(), color=False)
    store, release = stored(tmp_path, b"one build")
    rebuilt = replace(release, sha256="1" * 64)  # the same commit, other bytes
    assert _already_there(store, rebuilt, False, out) is True
    assert _already_there(store, replace(rebuilt, mix_env="staging"), True, out) is False
    other = replace(rebuilt, commit="b" * 40, dirty=True)
    with pytest.raises(UsageError) as refused:
        _already_there(store, other, False, out)
    assert str(refused.value) == (
        f"{tmp_path} already holds a different build of hello 0.1.0: commit aaaaaaaaaa "
        f"(sha256 {release.sha256[:16]}, mix, MIX_ENV=prod), built 2026-01-01T00:00:00Z; "
        "this one commit bbbbbbbbbb, dirty tree (sha256 1111111111111111, mix, MIX_ENV=prod)"
    )
    assert refused.value.hint == "--force replaces it"
