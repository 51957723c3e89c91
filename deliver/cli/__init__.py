"""The command line: parse edeliver's grammar, call one library function, map the outcome to
an exit status. The only package that imports click; each module registers its commands on
the root group of main.py."""

from deliver.cli import (
    build,
    completion,
    deploy,
    env,
    importer,
    init,
    lock,
    node,
    ops,
    sandbox,
    service,
    show,
    store,
)
from deliver.cli.main import ExitCode, cli, main, run

__all__ = [
    "ExitCode",
    "build",
    "cli",
    "completion",
    "deploy",
    "env",
    "importer",
    "init",
    "lock",
    "main",
    "node",
    "ops",
    "run",
    "sandbox",
    "service",
    "show",
    "store",
]
