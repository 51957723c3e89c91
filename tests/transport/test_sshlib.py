"""paramiko is imported without invoke, and `Match exec` still runs (through invoke, late)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deliver.transport import sshlib


def _fresh(code: str) -> str:
    """What `code` prints in a new interpreter (this one imported paramiko long ago)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_loading_paramiko_does_not_import_invoke() -> None:
    code = (
        "import sys\nfrom deliver.transport import sshlib\nsshlib.load()\n"
        "print('paramiko' in sys.modules, 'invoke' in sys.modules, 'asyncio' in sys.modules)"
    )
    assert _fresh(code) == "True False False"


def test_opening_the_ssh_files_does_not_import_invoke(tmp_path: Path) -> None:
    (tmp_path / "ssh_config").write_text("Host web1\n  HostName 127.0.0.1\n")
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from deliver.config import SshSettings\n"
        "from deliver.transport.connect import SshFiles\n"
        f"files = SshFiles.load(SshSettings(config_file=Path({str(tmp_path / 'ssh_config')!r})))\n"
        "print(files.lookup('web1', 'web1')['hostname'], 'invoke' in sys.modules)"
    )
    assert _fresh(code) == "127.0.0.1 False"


def test_match_exec_still_runs_its_command() -> None:
    code = (
        "import sys\nfrom deliver.transport import sshlib\n"
        "config = sshlib.load().SSHConfig.from_text("
        '\'Match exec "true"\\n  User yes\\nMatch exec "false"\\n  Port 2222\\n\')\n'
        "before = 'invoke' in sys.modules\noptions = config.lookup('web1')\n"
        "print(before, options.get('user'), options.get('port'), 'invoke' in sys.modules)"
    )
    assert _fresh(code) == "False yes None True"


def test_loading_twice_gives_the_same_module() -> None:
    assert sshlib.load() is sshlib.load()
