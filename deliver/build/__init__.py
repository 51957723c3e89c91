"""The build host: which commit (git.py) and version (versions.py) to build, the build tree
and its steps (tree.py), and upgrade packages made from two releases (upgrade.py)."""
