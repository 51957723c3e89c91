"""Build steps in the build tree: their environment, and no secret of build.env on their
command line (a build step runs for seconds, visible to `ps`)."""

from __future__ import annotations

from pathlib import Path

from deliver.build.tree import in_build_dir
from deliver.config import BuildConfig, HostSpec
from deliver.shell import Secret
from deliver.transport.local import LocalRemote

PRINT_ENV = 'printf "%s|%s|%s|%s\\n" "$MIX_ENV" "$DELIVER_VERSION" "$PLAIN" "$TOKEN"; pwd -P'


def test_a_build_step_gets_plain_values_on_its_command_line_and_secrets_on_stdin(
    tmp_path: Path,
) -> None:
    token = "s3cr3t 'quoted' $HOME\nsecond line"
    build = BuildConfig(
        HostSpec.parse("localhost"), "~/b", env={"PLAIN": "p v", "TOKEN": Secret(token)}
    )
    script = in_build_dir(str(tmp_path), build, PRINT_ENV, {"DELIVER_VERSION": "1.2.3"})
    assert "s3cr3t" not in script.command and "second line" not in script.command
    assert "export MIX_ENV=prod DELIVER_VERSION=1.2.3 PLAIN='p v'" in script.command
    assert script.stdin is not None and b"s3cr3t" in script.stdin
    result = LocalRemote(HostSpec.parse("localhost")).run(script.command, stdin=script.stdin)
    assert result.stdout == f"prod|1.2.3|p v|{token}\n{tmp_path.resolve()}\n"


def test_without_secrets_a_build_step_reads_no_stdin(tmp_path: Path) -> None:
    build = BuildConfig(HostSpec.parse("localhost"), "~/b", env={"PLAIN": "x"})
    script = in_build_dir(str(tmp_path), build, "mix compile")
    assert script.stdin is None
    assert script.command == f"cd {tmp_path} && export MIX_ENV=prod PLAIN=x && mix compile 2>&1"
