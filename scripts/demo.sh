#!/usr/bin/env bash
# The README's first command: install everything, then build a sample Elixir app on a sandbox
# build host, deploy it to two sandbox hosts, start it, ping it, and ask each host's app.
# Every host is a real sshd on 127.0.0.1; everything is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bash scripts/install.sh
export PATH="$repo/.venv/bin:$PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/deliver-demo.XXXXXX")
cleanup() {
  deliver sandbox --dir "$work/sandbox" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

deliver sandbox --dir "$work/sandbox" up --targets 2

echo "-----> Creating the sample app repository in $work/hello"
mkdir "$work/hello"
cp -r examples/hello/mix.exs examples/hello/.formatter.exs examples/hello/.gitignore \
  examples/hello/config examples/hello/lib "$work/hello/"
cd "$work/hello"
echo "/.deliver-releases/" >> .gitignore
deliver sandbox --dir "$work/sandbox" config --app hello > .deliver
git init -q -b main
git add -A
git -c user.name=demo -c user.email=demo@example.invalid commit -q -m "hello 0.1.0"

set -x
deliver build release
deliver show releases
deliver deploy release to production --start-deploy
deliver ping production
deliver version production
{ set +x; } 2>/dev/null

echo "-----> Asking the app on each host"
for port in $(sed -n 's/.*PORT: "\([0-9]*\)".*/\1/p' .deliver); do
  echo "  127.0.0.1:$port says: $(curl -fsS "http://127.0.0.1:$port/")"
done
deliver stop production
echo "-----> Demo finished; cleaning up the sandbox"
