"""What the app's repository is: its app name and whether it is an umbrella, read from mix.exs
or rebar.config (for `deliver init` and the defaults that depend on it)."""

from __future__ import annotations

import re
from pathlib import Path


def is_umbrella(project_dir: Path) -> bool:
    """Whether mix.exs is an umbrella's (`apps_path:`), whose releases are named by the user."""
    try:
        return re.search(r"\bapps_path:", (project_dir / "mix.exs").read_text()) is not None
    except OSError:
        return False


def detect_app(project_dir: Path) -> str | None:
    """The app name from mix.exs (`app: :name`) or rebar.config (`{release, {name, ...`)."""
    patterns = {
        "mix.exs": r"\bapp:\s*:([a-z][a-z0-9_]*)",
        "rebar.config": r"\{\s*release\s*,\s*\{\s*'?([a-z][a-z0-9_]*)",
    }
    for file_name, pattern in patterns.items():
        try:
            match = re.search(pattern, (project_dir / file_name).read_text())
        except OSError:
            continue
        if match:
            return match.group(1)
    return None
