#!/usr/bin/env bash
# Install what deliver, its demo and its tests need on Debian: system packages (only the
# missing ones), then a virtualenv in .venv with deliver and its dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openssh-server openssh-client git curl wget erlang-nox erlang-dev erlang-src elixir rebar3
          runit systemd
          python3 python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "-----> Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "-----> Creating the virtualenv .venv"
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING' || true
.venv/bin/deliver --version >/dev/null
