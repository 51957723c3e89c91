"""fabric's Connection on a connection deliver already holds: for users' own tasks (tasks.py).

fabric would open a connection of its own, with paramiko's AutoAddPolicy (an unknown host key
trusted on first use). This Connection is handed deliver's open, strictly checked client
instead: `c.run`, `c.sudo`, `c.put` and `c.get` are channels on it, `open()` never connects
(a lost connection is an error, not a reconnect) and `close()` leaves it open for deliver.
Commands' output goes to deliver's OutputSink line by line, prefixed by the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deliver.errors import ConnectionFailed
from deliver.transport.remote import OutputSink

if TYPE_CHECKING:
    import paramiko

_SHARED: type | None = None


def fabric_connection(
    client: paramiko.SSHClient,
    name: str,
    sink: OutputSink,
    config: Mapping[str, Any],
    prefix: str | None = None,
) -> Any:
    """A fabric Connection on `client` (host `name` in messages); `config` is added to its
    invoke config (`c.config.<key>`, also `c.<key>`), `prefix` runs before every command."""
    global _SHARED
    if _SHARED is None:  # fabric is imported only by the commands that run tasks
        _SHARED = _define()
    return _SHARED(client, name, sink, config, prefix)


def _define() -> type:
    import fabric
    import paramiko

    class SharedConnection(fabric.Connection):  # type: ignore[misc]
        def __init__(
            self,
            client: paramiko.SSHClient,
            name: str,
            sink: OutputSink,
            extra: Mapping[str, Any],
            prefix: str | None,
        ) -> None:
            transport = client.get_transport()
            if transport is None or not transport.is_active():
                raise ConnectionFailed(name, "connection lost")
            host, port = transport.getpeername()[:2]
            overrides = {**extra, "deliver_sink": (name, sink), "run": {"in_stream": False}}
            config = fabric.Config(
                ssh_config=paramiko.SSHConfig(),  # deliver resolved it: read no ssh_config
                overrides=overrides,
            )
            super().__init__(host, user=transport.get_username(), port=port, config=config)
            self.client, self.transport = client, transport
            if prefix:
                self.command_prefixes.append(prefix)

        def open(self) -> None:
            if not self.is_connected:  # never a second connection, never another policy
                raise ConnectionFailed(self.config.deliver_sink[0], "connection lost")

        def close(self) -> None:
            """Closes what the task opened (its SFTP session), never deliver's connection."""
            sftp: paramiko.SFTPClient | None = getattr(self, "_sftp", None)
            if sftp is not None:
                sftp.close()
                self._sftp = None

        def run(self, command: str, **kwargs: Any) -> Any:
            name, sink = self.config.deliver_sink
            streams = _Lines(sink, name), _Lines(sink, name)
            kwargs.setdefault("out_stream", streams[0])
            kwargs.setdefault("err_stream", streams[1])
            try:
                return super().run(command, **kwargs)
            finally:
                for stream in streams:
                    stream.finish()

    return SharedConnection


class _Lines:
    """A text stream for invoke's runner: each complete line goes to deliver's output as
    `host | line`, so parallel hosts never mix within a line."""

    def __init__(self, sink: OutputSink, host: str) -> None:
        self.sink, self.host, self.buffer = sink, host, ""

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.sink.remote_output(self.host, line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self.buffer:
            self.sink.remote_output(self.host, self.buffer)
            self.buffer = ""
