"""The dry run's Remote: only the read-only steps reach the machine; everything else is
recorded, and an upload is recorded by its size, never its content."""

from __future__ import annotations

import io
from pathlib import Path

from deliver.config import HostSpec
from deliver.transport.dryrun import DryRunRemote, Recorded
from deliver.transport.local import LocalRemote


def test_only_read_only_steps_run_and_the_rest_is_recorded(tmp_path: Path) -> None:
    here = LocalRemote(HostSpec.parse("localhost"))
    dry = DryRunRemote(here, {"probe"})
    target = tmp_path / "made"
    assert dry.run(f"echo read; ls {tmp_path}", step="probe").stdout == "read\n"
    answer = dry.run(f"touch {target}", step="switching")
    assert answer.ok and answer.stdout == "" and not target.exists()
    dry.run(f"touch {target}")  # no step: not read-only either
    dry.upload(b"s3cret-value", str(target))
    dry.upload(Path(__file__), str(target))
    dry.download(str(tmp_path / "x"), io.BytesIO())
    assert not target.exists()
    assert dry.recorded[:2] == [
        Recorded("switching", f"touch {target}"),
        Recorded("command", f"touch {target}"),
    ]
    assert dry.recorded[2] == Recorded("upload", f"upload bytes (12 bytes) to {target}")
    assert dry.recorded[3].command.startswith(f"upload {Path(__file__)} (")
    assert dry.recorded[4] == Recorded("download", f"download {tmp_path / 'x'}")
    assert "s3cret" not in repr(dry.recorded)


def test_a_step_whose_answer_later_commands_use_answers_its_placeholder() -> None:
    here = LocalRemote(HostSpec.parse("localhost"))
    dry = DryRunRemote(here, set(), answers={"uploading": "<the name mktemp makes>"})
    assert dry.run("mktemp x.XXXXXX", step="uploading").stdout == "<the name mktemp makes>"
    assert dry.run("mktemp y.XXXXXX", step="other").stdout == ""
    assert [r.command for r in dry.recorded] == ["mktemp x.XXXXXX", "mktemp y.XXXXXX"]
