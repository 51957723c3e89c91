"""`build upgrade --edit` through the CLI, with $EDITOR a script: its edit of the generated
appup lands in the relup and in the appup kept in the store, and an editor that exits
non-zero aborts the build, the stored upgrade untouched. Reuses the mix sample's stored
releases (in a copy of its store): only the new release, the appups and the relup are made."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from deliver.sandbox import Sandbox
from tests.commands.hot_apps import UpgradeApp, config_text, deliver, ok

pytestmark = pytest.mark.slow

EDIT = r"""#!/bin/sh
echo "$1" >> "$(dirname "$0")/edited"
sed -i 's/{advanced,\[\]}/{advanced,[edited]}/g' "$1"
"""


def editor(directory: Path, name: str, text: str) -> Path:
    script = directory / name
    script.write_text(text)
    script.chmod(0o755)
    return script


def test_edit_lands_in_the_relup_and_a_failing_editor_aborts_the_build(
    sandbox: Sandbox, mix_app: UpgradeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    shutil.copytree(mix_app.store, store)
    config = mix_app.repo / f".deliver-edit-{uuid.uuid4().hex[:8]}.yml"
    config.write_text(config_text(sandbox, mix_app, "~/unused", store))
    monkeypatch.delenv("VISUAL", raising=False)
    try:
        monkeypatch.setenv("EDITOR", str(editor(tmp_path, "edit.sh", EDIT)))
        built = ok(deliver(config, "build", "upgrade", "--with=0.1.0", "--to=v0.2.0", "--edit"))
        assert "Using your edit of the appup of hello" in built.stdout
        assert "Built upgrade hello 0.1.0 -> 0.2.0" in built.stdout
        (opened,) = (tmp_path / "edited").read_text().splitlines()
        assert opened.endswith(".appup")
        relup = "".join(ok(deliver(config, "show", "relup", "0.2.0")).stdout.split())
        assert "{code_change,up,[{'Elixir.Hello.Counter',[edited]}]}" in relup
        assert "generatedappups:" not in relup  # the edited one is not counted as generated
        kept = ok(deliver(config, "show", "appup", "0.2.0", "--app=hello")).stdout
        assert kept.startswith(
            "%% The appup of hello 0.1.0 -> 0.2.0: generated, then edited with build upgrade "
            "--edit.\n"
        )
        assert "{advanced,[edited]}" in "".join(kept.split())

        manifest = store / "hello_0.2.0.upgrade.json"
        before = manifest.read_bytes(), (store / "hello_0.2.0.upgrade.tar.gz").read_bytes()
        failing = editor(tmp_path, "fail.sh", "#!/bin/sh\nexit 3\n")
        monkeypatch.setenv("EDITOR", str(failing))
        aborted = deliver(config, "build", "upgrade", "--with=0.1.0", "--to=v0.2.0", "--edit")
        assert aborted.exit_code == 2
        assert (
            f"error: --edit: {failing}: Editing failed on the appup of hello: the upgrade was "
            "not built" in aborted.stderr
        )
        assert "Traceback" not in aborted.output
        assert "Generating relup" not in aborted.stdout
        after = manifest.read_bytes(), (store / "hello_0.2.0.upgrade.tar.gz").read_bytes()
        assert after == before
    finally:
        config.unlink()
