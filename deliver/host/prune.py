"""Pruning a deploy host in one remote script: the releases it holds are read, the ones
beyond `keep_releases` chosen and removed on the host, in one round trip (it was two: reading
the releases, then removing the ones deliver chose).

The choice is HostReleases.prunable's (host/layout.py), made by awk on the host from the same
listing read_host_releases reads: current, running and the previous good release always stay,
then the most recently deployed ones up to `keep`, then never-deployed leftovers (newest
first: `sort -V`, which orders a pre-release after its release where deliver's version_key
puts it before), and every directory a kept hot-upgrade alias names. tests/host/test_prune.py
holds both to the same answers. Before anything is removed the script checks again, on the
host, that it is not the directory the running node was started from nor `current`'s.
"""

from __future__ import annotations

from deliver.host.layout import (
    ALIASES,
    HISTORY_FILE,
    HISTORY_LINES,
    NOT_A_RELEASE_NAME,
    PRESENT,
    replace_file,
)
from deliver.release import MAX_VERSION_LENGTH, version_key
from deliver.shell import quote_path, values_of
from deliver.transport.remote import Remote

_SUFFIXES = ("", ".tar.gz", ".tar.gz.sha256", ".upgrade.tar.gz", ".upgrade.tar.gz.sha256")

#: awk over `C <current>`, `R <running>`, `P <present>` (newest first), `A <alias> <target>`
#: and the history's `<time> <kind> <version>` lines: prints the releases to remove.
_CHOOSE = r"""
function ok(v) { return v !~ /^v[0-9]/ && length(v) <= max }
$1 == "C" { cur = $2; next }
$1 == "R" { run = $2; next }
$1 == "P" { if (ok($2)) { n++; present[n] = $2; held[$2] = 1 }; next }
$1 == "A" { if (ok($2) && ok($3)) alias[$2] = $3; next }
$1 == "H" && NF == 4 { h++; kind[h] = $3; version[h] = $4 }
END {
  for (i = h; i >= 1; i--) {
    v = version[i]
    if (v in latest) continue
    latest[v] = kind[i]
    if (v in held) { r++; recent[r] = v }
    good = kind[i] == "deployed" || kind[i] == "started"
    if (previous == "" && good && (v in held) && v != cur) previous = v
  }
  count = 0
  if (cur in held) { kept[cur] = 1; count++ }
  if (run != "" && (run in held) && !(run in kept)) { kept[run] = 1; count++ }
  if (previous != "" && !(previous in kept)) { kept[previous] = 1; count++ }
  for (i = 1; i <= r && count < keep; i++)
    if (!(recent[i] in kept)) { kept[recent[i]] = 1; count++ }
  for (i = 1; i <= n && count < keep; i++)
    if (!(present[i] in latest) && !(present[i] in kept)) { kept[present[i]] = 1; count++ }
  for (v in kept) if (v in alias) named[alias[v]] = 1
  for (i = 1; i <= n; i++) if (!(present[i] in kept) && !(present[i] in named)) print present[i]
}
"""


def prune_script(deliver_to: str, keep: int) -> str:
    """Shell: choose and remove, in `deliver_to`, the releases beyond `keep` (REMOVED=<v>
    for each), then trim the history; nothing when no release is current there."""
    listing = f"""{{
  echo "C $cur"; [ ! -e running ] || echo "R $(basename "$(readlink running)")"
  {PRESENT} | sed -n 's/^PRESENT=//p' | sort -r -V | sed 's/^/P /'
  {ALIASES} | sed -n 's/^ALIAS=//p' | tr = ' ' | sed 's/^/A /'
  [ ! -f {HISTORY_FILE} ] || sed 's/^/H /' {HISTORY_FILE}
}}"""
    paths = " ".join(f'"releases/$v{suffix}"' for suffix in _SUFFIXES)
    trim = replace_file(".", HISTORY_FILE, f"tail -n {HISTORY_LINES} {HISTORY_FILE}")
    return f"""cd {quote_path(deliver_to)} 2>/dev/null || exit 0
cur=$(basename "$(readlink current)" 2>/dev/null)
[ -n "$cur" ] || exit 0
live=$(cd running 2>/dev/null && pwd -P); now=$(cd current 2>/dev/null && pwd -P)
{listing} | awk -v keep={int(keep)} -v max={MAX_VERSION_LENGTH} '{_CHOOSE}' |
while IFS= read -r v; do
  case "$v" in {NOT_A_RELEASE_NAME}) continue ;; esac
  # never the directory a node runs from or current boots, whatever the listing said (an
  # alias is only a link: removing it leaves the directory it names)
  if [ ! -L "releases/$v" ] && here=$(cd "releases/$v" 2>/dev/null && pwd -P) &&
    {{ [ "$here" = "$live" ] || [ "$here" = "$now" ]; }}; then continue; fi
  rm -rf -- {paths} && echo "REMOVED=$v"
done
[ ! -f {HISTORY_FILE} ] || {{ {trim}; }}"""


def prune_host(remote: Remote, deliver_to: str, keep: int) -> list[str]:
    """Remove the releases (and their archives) beyond `keep` on the host of `remote`, in one
    remote command; the versions removed, oldest first. CommandFailed when it fails."""
    result = remote.run(prune_script(deliver_to, keep), step="pruning old releases")
    return sorted(values_of(result.stdout, "REMOVED"), key=version_key)
