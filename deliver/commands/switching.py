"""Switching a deploy's hosts to the new release without restarting them (`deploy release`
without --start-deploy): all or none.

Every host's switch is one atomic rename (host/layout.py), so a host is either on the new
release or on its old one, never half. What can go wrong is a host's connection dropping
during its switch: its switch may then have been done or not. Such a host is reached again over
a fresh connection (a few tries, a moment apart) and its switch is done again (the rename makes
a second one harmless). Only when a host cannot be switched at all, unreachable or failing, do
the hosts that were switched go back to the release they had current, so that the environment
does not end up mixed; their nodes were not restarted, so they kept running it throughout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from deliver.commands.targets import reachable
from deliver.config import Config, HostSpec
from deliver.errors import ConnectionFailed, DeliverError, HostsFailed, RolloutStopped
from deliver.host.unpack import switch
from deliver.output import Output
from deliver.transport.fanout import fan_out
from deliver.transport.remote import Remote

#: Seconds to wait before each new try at reaching a host whose connection dropped.
RECONNECT_PAUSES = (0.0, 1.0, 2.0)


@dataclass(frozen=True)
class Switch:
    """One deploy's switch: `version` on every host, each with its release root and what it
    had current before (None: a first deploy, nothing to go back to). Connections opened
    again are kept open by `spare` until the command ends (its lock is given back over them)."""

    config: Config
    out: Output
    version: str
    roots: Mapping[str, str]
    before: Mapping[str, str | None]
    spare: ExitStack

    def run(self, remotes: Sequence[Remote], revert: bool = True) -> dict[str, Remote]:
        """Switch every one of `remotes`; returns the fresh connections that replaced lost
        ones. Raises HostsFailed (not `revert`, or nothing to go back to) or RolloutStopped
        naming the hosts that could not be switched and those switched back."""
        self.out.step(f"Switching to {self.version}")
        try:
            fan_out("switch", remotes, self.switch_one)
            return {}
        except HostsFailed as failed:
            errors = dict(failed.errors)
            switched = {r.name: r for r in remotes if r.name in failed.succeeded}
        fresh = self.finish_lost(remotes, errors, switched)
        if not errors:
            return fresh
        if not revert:
            raise HostsFailed("switch", errors, list(switched))
        # a host reached again whose switch failed anew may have been switched by the first
        # try, which went on without its connection: it goes back too
        unsure = {name: r for name, r in fresh.items() if name not in switched}
        raise self.switched_back(errors, switched, unsure) from None

    def switch_one(self, remote: Remote) -> None:
        switch(remote, self.roots[remote.name], self.version)

    def finish_lost(
        self,
        remotes: Sequence[Remote],
        errors: dict[str, BaseException],
        switched: dict[str, Remote],
    ) -> dict[str, Remote]:
        """Reach the hosts whose connection dropped again and switch them; `errors` and
        `switched` are updated. Returns the new connections that could be opened."""
        lost = [r.host for r in remotes if isinstance(errors.get(r.name), ConnectionFailed)]
        if not lost:
            return {}
        names = ", ".join(host.name for host in lost)
        self.out.warning(f"lost the connection to {names} during the switch: reconnecting")
        fresh, unreachable = self.reconnect(lost)
        errors |= unreachable
        try:
            fan_out("switch", list(fresh.values()), self.switch_one, interruptible=False)
            done = list(fresh)
        except HostsFailed as again:
            done = again.succeeded
            errors |= again.errors
        for name in done:
            errors.pop(name, None)
            switched[name] = fresh[name]
            text = f"switched to {self.version} over a new connection"
            self.out.host_status(name, True, text, version=self.version)
        return fresh

    def reconnect(
        self, hosts: Sequence[HostSpec]
    ) -> tuple[dict[str, Remote], dict[str, DeliverError]]:
        """New connections to `hosts`, a few tries each; and why the others cannot be
        reached."""
        left = list(hosts)
        fresh: dict[str, Remote] = {}
        unreachable: dict[str, DeliverError] = {}
        for pause in RECONNECT_PAUSES:
            time.sleep(pause)
            # after a first Ctrl-C too: the switch in flight finishes
            opened, unreachable = self.spare.enter_context(
                reachable(self.config, self.out, left, interruptible=False)
            )
            fresh |= {r.name: r for r in opened}
            left = [host for host in left if host.name in unreachable]
            if not left:
                break
        return fresh, unreachable

    def switched_back(
        self,
        errors: Mapping[str, BaseException],
        switched: Mapping[str, Remote],
        unsure: Mapping[str, Remote],
    ) -> HostsFailed:
        """All or none: the switched hosts (and the `unsure`) get their `current` back."""
        candidates = {**switched, **unsure}
        back = [r for name, r in candidates.items() if self.before.get(name)]
        if not back:  # a first deploy: there is nothing to go back to
            return HostsFailed("switch", errors, list(switched))
        self.out.step(f"Switching {', '.join(r.name for r in back)} back")

        def go_back(remote: Remote) -> str:
            previous = self.before[remote.name]
            assert previous is not None
            switch(remote, self.roots[remote.name], previous)
            return previous

        try:
            versions = fan_out("switch back", back, go_back, interruptible=False)
            notes = []
        except HostsFailed as again:
            versions = {name: self.before[name] or "?" for name in again.succeeded}
            notes = [str(again).replace("\n", "\n  ")]
        notes += [f"switched back to {version}: {name}" for name, version in versions.items()]
        kept = [name for name in switched if name not in versions]
        return RolloutStopped("switch", errors, kept, notes)
