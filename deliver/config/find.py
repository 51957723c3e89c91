"""Finding the config file: like git, mix, Capistrano and Kamal, deliver looks in the current
directory and then upward, stopping at the root of the git work tree.

In each directory it reads the first of CONFIG_NAMES that is a file. `.deliver/deliver.yml`
lets a repository that used edeliver (whose `.deliver/` is a directory holding a bash
`config`) keep both side by side; deliver never reads edeliver's bash file.
"""

from __future__ import annotations

from pathlib import Path

from deliver.errors import ConfigError

CONFIG_NAMES = (".deliver.yml", "deliver.yml", ".deliver", ".deliver/deliver.yml")
EDELIVER_CONFIG = ".deliver/config"


def find_config(start: Path) -> Path:
    """The config file for work started in `start`; ConfigError when there is none."""
    edeliver: Path | None = None
    for directory in _up_to_work_tree_root(start.resolve()):
        for name in CONFIG_NAMES:
            if (directory / name).is_file():
                return directory / name
        if edeliver is None and (directory / EDELIVER_CONFIG).is_file():
            edeliver = directory / EDELIVER_CONFIG
    error = ConfigError(
        CONFIG_NAMES[2],
        "",
        f"no config file in {start} or above it ({', '.join(CONFIG_NAMES)}): create one from "
        ".deliver.example, or point --config / DELIVER_CONFIG at it",
    )
    if edeliver is not None:
        error.hint = (
            f"{edeliver} is edeliver's bash config, which deliver does not read: convert it "
            "with `deliver import edeliver --write` (or write a config from .deliver.example)"
        )
    raise error


def find_edeliver_config(start: Path) -> Path | None:
    """edeliver's `.deliver/config` in `start` or above it, up to the git work tree's root."""
    for directory in _up_to_work_tree_root(start.resolve()):
        if (directory / EDELIVER_CONFIG).is_file():
            return directory / EDELIVER_CONFIG
    return None


def project_dir(config_file: Path) -> Path:
    """The app's directory: where the config file is, or above `.deliver/` for
    `.deliver/deliver.yml`."""
    directory = config_file.resolve().parent
    return directory.parent if directory.name == ".deliver" else directory


def find_app_dir(start: Path) -> Path | None:
    """The nearest directory from `start` up to the git work tree's root that holds a
    mix.exs or rebar.config (`deliver init` run in lib/ means the app above it); None when
    there is none, or `start` is in no git work tree."""
    directories = _up_to_work_tree_root(start.resolve())
    if not (directories[-1] / ".git").exists():
        directories = directories[:1]
    return next(
        (d for d in directories if (d / "mix.exs").is_file() or (d / "rebar.config").is_file()),
        None,
    )


def _up_to_work_tree_root(start: Path) -> list[Path]:
    directories = []
    for directory in [start, *start.parents]:
        directories.append(directory)
        if (directory / ".git").exists():
            break
    return directories
