"""`deliver status [ENV]`: one row per host of what it runs now, the hosts that could not be
reached included, and the hosts that disagree with each other (drift) flagged.

Read-only: it takes no lock. Exit status 3 (HostsFailed of connection errors) when a host could
not be reached, after every row was printed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from deliver.commands.targets import reachable, targets
from deliver.config import Config
from deliver.errors import DeliverError, HostsFailed
from deliver.events import JsonOutput
from deliver.host.status import HostStatus, read_status
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote

HEADERS = ("HOST", "REACHABLE", "CURRENT", "RUNNING", "NODE", "LAST DEPLOY", "LOCK", "NOTE")


def status(
    config: Config, out: Output, environment: str, hosts: Sequence[str] = ()
) -> list[HostStatus]:
    """Every chosen host's status, in the order of the config; HostsFailed (after printing
    every row) naming the hosts that could not be reached or asked."""
    chosen = targets(config, environment, hosts)
    out.step(f"Status of {config.app} on {environment}: {chosen.names}")
    deliver_to = chosen.env.deliver_to

    failed: dict[str, DeliverError] = {}

    def on_host(remote: Remote) -> HostStatus:
        try:
            return read_status(remote, deliver_to, config.app)
        except DeliverError as error:  # a row too, and a failure once every row is out
            failed[remote.name] = error
            return HostStatus(remote.name, True, error=_without_host(error, remote.name))

    with reachable(config, out, chosen.hosts) as (remotes, unreachable):
        answers = fan_out("reading the status", remotes, on_host)
    rows = [
        answers.get(h.name)
        or HostStatus(h.name, False, error=_without_host(unreachable[h.name], h.name))
        for h in chosen.hosts
    ]
    drifted = drift(rows)
    report(out, rows, drifted)
    if unreachable or failed:
        succeeded = [name for name in answers if name not in failed]
        raise HostsFailed("status", {**unreachable, **failed}, succeeded)
    return rows


def _without_host(error: DeliverError, host: str) -> str:
    return str(error).removeprefix(f"{host}: ").split("\n")[0]


def drift(rows: Sequence[HostStatus]) -> set[str]:
    """The hosts whose (current, running version) differs from what most reachable hosts have:
    every one of them when there is no majority."""
    seen = {row.host: (row.current, row.runs) for row in rows if row.reachable and not row.error}
    counts = Counter(seen.values())
    if len(counts) <= 1:
        return set()
    (common, most), *rest = counts.most_common()
    if rest and rest[0][1] == most:
        return set(seen)
    return {host for host, pair in seen.items() if pair != common}


def report(out: Output, rows: Sequence[HostStatus], drifted: set[str]) -> None:
    if isinstance(out, JsonOutput):
        for row in rows:
            out.emit("status", **as_json(row, row.host in drifted))
        return
    out.table(HEADERS, [cells(row, row.host in drifted) for row in rows])
    if drifted:
        out.warning(
            "drift: the hosts do not all run the same release: "
            + "; ".join(
                f"{r.host} has {r.current or 'nothing'} (runs {r.runs or 'nothing'})"
                for r in rows
                if r.reachable and not r.error
            )
        )


def cells(row: HostStatus, drifted: bool) -> list[str]:
    if row.error:
        return [row.host, "yes" if row.reachable else "no", *["?"] * 5, row.error]
    node = "down"
    if row.node:
        node = f"{row.node.version or '?'} pid {row.node.pid or '?'}"
        node += f" up {uptime(row.node.uptime)}" if row.node.uptime is not None else ""
    last = "-"
    if row.last_deploy:
        deploy = row.last_deploy
        last = f"{deploy.version} {deploy.time}" + (f" by {deploy.by}" if deploy.by else "")
    lock = f"{row.lock.holder} ({row.lock.command})" if row.lock else "-"
    return [
        row.host,
        "yes",
        row.current or "-",
        row.running or "-",
        node,
        last,
        lock,
        note(row, drifted),
    ]


def note(row: HostStatus, drifted: bool) -> str:
    notes = []
    if row.current is None:
        notes.append("nothing deployed")
    elif row.node is None:
        notes.append(f"node down: deliver start boots {row.current}")
    elif row.disagrees:
        notes.append(f"runs {row.runs}, current is {row.current}: a restart boots {row.current}")
    if drifted:
        notes.append("DRIFT")
    return "; ".join(notes)


def uptime(seconds: int) -> str:
    """`3d4h`, `2h5m`, `4m10s`, `12s`: the two largest units."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    return f"{hours}h{minutes}m" if hours else (f"{minutes}m{secs}s" if minutes else f"{secs}s")


def as_json(row: HostStatus, drifted: bool) -> dict[str, object]:
    data = asdict(row)
    if row.lock:
        data["lock"] = {
            "holder": row.lock.holder,
            "command": row.lock.command,
            "since": row.lock.since,
        }
    data.update(disagrees=row.disagrees, drift=drifted)
    return data
