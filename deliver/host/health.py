"""Is a freshly started node healthy? It answers (control.start_node already waits for that)
and, when `health_check.url` is set, that URL returns 2xx.

The URL is fetched on the host itself, over the command's SSH connection, with curl (or wget):
apps usually listen on the host's loopback, where deliver's machine cannot reach them. The
retries run inside one remote script, so a check costs one round trip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deliver.config import Environment, HealthCheck, HostSpec
from deliver.errors import NodeError, UsageError
from deliver.shell import Secret, curl_config_value, parse_key_values
from deliver.transport.remote import Remote

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class HealthUrl:
    """The URL for one host: `value` goes into the command, `shown` (secrets masked) to people."""

    value: str | Secret
    shown: str


def health_url(check: HealthCheck, env: Mapping[str, str | Secret], host: str) -> HealthUrl:
    """Fill `{NAME}` in the configured url from the host's env; UsageError for a missing name."""
    assert check.url is not None
    missing = [name for name in _PLACEHOLDER.findall(check.url) if name not in env]
    if missing:
        raise UsageError(
            f"health_check.url: {{{missing[0]}}} is not in the env of {host}",
            hint="set it in the environment's or the host's env in .deliver",
        )

    def fill(reveal: bool) -> str:
        def value(match: re.Match[str]) -> str:
            found = env[match.group(1)]
            return found.value if reveal and isinstance(found, Secret) else str(found)

        return _PLACEHOLDER.sub(value, check.url or "")

    secret = any(isinstance(env[n], Secret) for n in _PLACEHOLDER.findall(check.url))
    return HealthUrl(Secret(fill(True)) if secret else fill(True), fill(False))


def health_urls(
    check: HealthCheck, environment: Environment, hosts: Sequence[HostSpec]
) -> dict[str, HealthUrl]:
    """Every host's URL, worked out before any host is touched (none when no url is set)."""
    if check.url is None:
        return {}
    return {h.name: health_url(check, environment.host_env(h), h.name) for h in hosts}


def check_health(remote: Remote, url: HealthUrl, check: HealthCheck) -> str:
    """Fetch `url` on the host up to `check.retries` times; returns the status code.

    The URL (it may hold a token) reaches curl on its stdin as a config file (`-K -`), or wget
    as a list of URLs (`-i -`), so it is on no command line. Raises NodeError naming the URL
    (secrets masked) and the last status when no attempt returned 2xx."""
    timeout = f"{check.timeout:g}"
    # the script reads two lines: in a URL, a line break is percent-encoded anyway
    target = url.value.value if isinstance(url.value, Secret) else url.value
    target = target.replace("\r", "%0D").replace("\n", "%0A")
    stdin = f"url = {curl_config_value(target)}\n{target}\n".encode()
    script = f"""IFS= read -r config; IFS= read -r url
if command -v curl >/dev/null 2>&1; then
  fetch() {{
    printf '%s\\n' "$config" \\
      | curl -s -o /dev/null -w '%{{http_code}}' --max-time {timeout} -K - 2>/dev/null
  }}
elif command -v wget >/dev/null 2>&1; then
  fetch() {{
    if printf '%s\\n' "$url" | wget -q -O /dev/null -T {timeout} -t 1 -i -; then
      echo 200; else echo 000; fi
  }}
else
  echo HEALTH=no-client; exit 0
fi
attempt=1
while :; do
  code=$(fetch)
  case "$code" in 2??) echo HEALTH=ok; echo CODE=$code; exit 0;; esac
  [ "$attempt" -ge {check.retries} ] && break
  attempt=$((attempt + 1)); sleep {check.interval:g}
done
echo HEALTH=failed; echo CODE=$code; echo ATTEMPTS=$attempt
"""
    values = parse_key_values(remote.run(script, stdin=stdin, step="health check").stdout)
    if values.get("HEALTH") == "ok":
        return values.get("CODE", "200")
    if values.get("HEALTH") == "no-client":
        raise NodeError(remote.name, "health check impossible: neither curl nor wget on the host")
    code = values.get("CODE") or "000"
    answer = "did not answer" if code in ("000", "") else f"answered {code}"
    tries = values.get("ATTEMPTS", "?")
    raise NodeError(remote.name, f"health check failed: {url.shown} {answer} ({tries} attempts)")
