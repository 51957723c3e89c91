"""An Erlang distribution client: epmd's PORT_PLEASE2, the distribution handshake and
`rpc:call` through the node's `rex` server, over byte streams the caller opens (on a deploy
host, `direct-tcpip` channels of its SSH connection to 127.0.0.1: see transport/ssh.py).

It asks a running node questions without booting a second VM where the node runs. Protocol:
https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html. The client calls itself a
hidden node (it never appears in the node's `nodes()`), offers the version-6 handshake
(send_name 'N', OTP 23+) and the version-5 one ('n') to nodes whose epmd entry says they
know no newer, and never asks for atom caches or fragments, so every message it reads is one
pass-through frame. Whatever the other side sends is bounded and checked: a frame longer than
MAX_FRAME, a malformed term or a wrong digest ends the connection with a DistError.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from deliver.transport.erlterm import (
    VERSION,
    Atom,
    Pid,
    Reference,
    Term,
    TermError,
    decode_from,
    encode,
)

EPMD_PORT = 4369
PORT_PLEASE2 = 122
PORT2_RESP = 119

#: The capabilities offered (erl_dist_protocol, "Distribution Flags"): what OTP 25 and 26
#: require (extended references and pids, UTF-8 atoms, big creation, maps, the v6 handshake,
#: unlink ids, V4 node containers), without atom caches or fragments.
FLAG_PUBLISHED = 0x1  # never offered: deliver is a hidden node, in no node's nodes()
FLAG_EXTENDED_REFERENCES = 0x4
FLAG_DIST_MONITOR = 0x8
FLAG_FUN_TAGS = 0x10
FLAG_NEW_FUN_TAGS = 0x80
FLAG_EXTENDED_PIDS_PORTS = 0x100
FLAG_EXPORT_PTR_TAG = 0x200
FLAG_BIT_BINARIES = 0x400
FLAG_NEW_FLOATS = 0x800
FLAG_UTF8_ATOMS = 0x10000
FLAG_MAP_TAG = 0x20000
FLAG_BIG_CREATION = 0x40000
FLAG_HANDSHAKE_23 = 0x1000000
FLAG_UNLINK_ID = 0x2000000
FLAG_V4_NC = 1 << 34
FLAGS_V5 = (
    FLAG_EXTENDED_REFERENCES
    | FLAG_DIST_MONITOR
    | FLAG_FUN_TAGS
    | FLAG_NEW_FUN_TAGS
    | FLAG_EXTENDED_PIDS_PORTS
    | FLAG_EXPORT_PTR_TAG
    | FLAG_BIT_BINARIES
    | FLAG_NEW_FLOATS
    | FLAG_UTF8_ATOMS
    | FLAG_MAP_TAG
    | FLAG_BIG_CREATION
)
FLAGS_V6 = FLAGS_V5 | FLAG_HANDSHAKE_23 | FLAG_UNLINK_ID | FLAG_V4_NC

#: No answer deliver asks for comes near this; a longer frame is not read.
MAX_FRAME = 16 << 20
#: A handshake frame is a few dozen bytes plus a node name (at most 255 characters).
MAX_HANDSHAKE_FRAME = 2048
#: Messages that are not our reply (a node may send some unasked) read before giving up.
MAX_STRAY_MESSAGES = 64

OP_SEND = 2
OP_REG_SEND = 6
OP_SEND_SENDER = 22


class DistError(Exception):
    """The node could not be asked; `kind` says why, for the caller to word and decide on."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


#: DistError kinds: nothing listens where the node should (no epmd, node not registered,
#: nothing on its port): it is down, or its distribution is off or elsewhere.
UNREACHABLE = "unreachable"
NOT_REGISTERED = "not-registered"
COOKIE = "cookie"
REFUSED = "refused"
PROTOCOL = "protocol"
TIMEOUT = "timeout"
BADRPC = "badrpc"


class Stream(Protocol):
    """A connected byte stream: a socket, or a paramiko channel."""

    def sendall(self, data: bytes, /) -> None: ...

    def recv(self, size: int, /) -> bytes: ...

    def settimeout(self, timeout: float | None, /) -> None: ...

    def close(self) -> None: ...


#: Opens a stream to 127.0.0.1:<port> as the node's host sees it; DistError(UNREACHABLE)
#: when nothing listens there.
Opener = Callable[[int], Stream]


@dataclass(frozen=True)
class EpmdEntry:
    port: int
    highest: int
    lowest: int


def port_please2(alive: str) -> bytes:
    """The PORT_PLEASE2_REQ for the node whose name is `alive@...`."""
    name = alive.encode()
    if not 0 < len(name) <= 255 or "@" in alive:
        raise DistError(PROTOCOL, f"not a node's short name: {alive!r}")
    return struct.pack(">HB", len(name) + 1, PORT_PLEASE2) + name


def parse_port2_resp(data: bytes) -> EpmdEntry | None:
    """epmd's answer: where the node listens, None when no such node is registered."""
    if len(data) < 2 or data[0] != PORT2_RESP:
        raise DistError(PROTOCOL, "epmd sent something that is not a PORT2_RESP")
    if data[1] != 0:
        return None
    if len(data) < 12:
        raise DistError(PROTOCOL, "epmd's PORT2_RESP is truncated")
    port, _type, _proto, highest, lowest = struct.unpack(">HBBHH", data[2:10])
    return EpmdEntry(port, highest, lowest)


def epmd_lookup(open_stream: Opener, epmd_port: int, alive: str, timeout: float) -> EpmdEntry:
    """Ask the host's epmd for the node's port; DistError(NOT_REGISTERED) if it has none."""
    stream = open_stream(epmd_port)
    try:
        stream.settimeout(timeout)
        stream.sendall(port_please2(alive))
        answer = _read_until_closed(stream, 12 + 255 + 2 + 1024, time.monotonic() + timeout)
    finally:
        stream.close()
    entry = parse_port2_resp(answer)
    if entry is None:
        raise DistError(NOT_REGISTERED, f"no node named {alive} is registered with epmd")
    return entry


def send_name_v6(name: str, creation: int) -> bytes:
    """The handshake's first frame body, version 6: 'N', flags, creation, name."""
    data = name.encode()
    return struct.pack(">BQIH", ord("N"), FLAGS_V6, creation, len(data)) + data


def send_name_v5(name: str) -> bytes:
    """The handshake's first frame body, version 5: 'n', version, flags, name."""
    return struct.pack(">BHI", ord("n"), 5, FLAGS_V5) + name.encode()


@dataclass(frozen=True)
class Challenge:
    name: str
    flags: int
    challenge: int
    creation: int


def parse_challenge(frame: bytes) -> Challenge:
    """The node's challenge: 'N' (v6: flags, challenge, creation, name) or 'n' (v5)."""
    try:
        if frame[:1] == b"N":
            flags, challenge, creation, size = struct.unpack(">QIIH", frame[1:19])
            raw = frame[19:]
        elif frame[:1] == b"n":
            _version, flags, challenge = struct.unpack(">HII", frame[1:11])
            raw, creation, size = frame[11:], 0, len(frame) - 11
        else:
            raise DistError(PROTOCOL, "the node's challenge has an unknown tag")
    except struct.error:
        raise DistError(PROTOCOL, "the node's challenge is truncated") from None
    if len(raw) != size or not 0 < size <= 1023:
        raise DistError(PROTOCOL, "the node's challenge has a malformed name")
    return Challenge(raw.decode("utf-8", errors="replace"), flags, challenge, creation)


def digest(cookie: str, challenge: int) -> bytes:
    """md5(Cookie ++ integer_to_list(Challenge)), which proves the cookie without sending it."""
    return hashlib.md5(
        cookie.encode("latin-1") + str(challenge).encode(), usedforsecurity=False
    ).digest()


def challenge_reply(own_challenge: int, cookie: str, node_challenge: int) -> bytes:
    return struct.pack(">BI", ord("r"), own_challenge) + digest(cookie, node_challenge)


@dataclass(frozen=True)
class Handshaken:
    node: str
    creation: int


def handshake(
    stream: Stream, own_name: str, cookie: str, version: int, deadline: float
) -> Handshaken:
    """Run the handshake on `stream` as `own_name`; DistError(COOKIE) when the node refuses
    the cookie, and when the node cannot prove it holds the same one."""
    creation = _random32()
    first = send_name_v6(own_name, creation) if version >= 6 else send_name_v5(own_name)
    stream.sendall(struct.pack(">H", len(first)) + first)
    status = _read_frame(stream, 2, MAX_HANDSHAKE_FRAME, deadline)
    if status[:1] != b"s":
        raise DistError(PROTOCOL, "the node's handshake status is malformed")
    if status[1:] not in (b"ok", b"ok_simultaneous"):
        word = status[1:].decode("ascii", errors="replace")[:40]
        raise DistError(REFUSED, f"the node refused the connection ({word})")
    node = parse_challenge(_read_frame(stream, 2, MAX_HANDSHAKE_FRAME, deadline))
    own_challenge = _random32()
    reply = challenge_reply(own_challenge, cookie, node.challenge)
    stream.sendall(struct.pack(">H", len(reply)) + reply)
    try:
        ack = _read_frame(stream, 2, MAX_HANDSHAKE_FRAME, deadline)
    except DistError as error:
        if error.kind == UNREACHABLE:  # the node hangs up on a wrong digest
            raise DistError(COOKIE, "the node refused deliver's cookie") from None
        raise
    if ack[:1] != b"a" or ack[1:] != digest(cookie, own_challenge):
        raise DistError(COOKIE, "the node does not hold the cookie deliver read")
    return Handshaken(node.name, creation if version >= 6 else 0)


class Session:
    """One authenticated connection to a node: rpc() calls, one at a time."""

    def __init__(self, stream: Stream, own_name: str, node: Handshaken, timeout: float) -> None:
        self.stream, self.node, self.timeout = stream, node.node, timeout
        self.self_pid = Pid(Atom(own_name), 1, 0, node.creation)
        self._creation, self._calls = node.creation, 0

    def rpc(
        self, module: str, function: str, args: list[Term], timeout: float | None = None
    ) -> Term:
        """rpc:call(Node, module, function, args): the function's value; DistError(BADRPC)
        when it raised (or the module does not exist), DistError(TIMEOUT) without an answer."""
        self._calls += 1
        ref = Reference(self.self_pid.node, self._creation, (self._calls, 0, 0))
        request = (Atom("call"), Atom(module), Atom(function), args, Atom("user"))
        control = (OP_REG_SEND, self.self_pid, Atom(""), Atom("rex"))
        message = (Atom("$gen_call"), (self.self_pid, ref), request)
        body = b"p" + encode(control) + encode(message)
        self.stream.sendall(struct.pack(">I", len(body)) + body)
        reply = self._reply(ref, time.monotonic() + (timeout or self.timeout))
        if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == Atom("badrpc"):
            raise DistError(BADRPC, f"{module}:{function} failed on the node: {_brief(reply[1])}")
        return reply

    def _reply(self, ref: Reference, deadline: float) -> Term:
        strays = 0
        while strays < MAX_STRAY_MESSAGES:
            frame = _read_frame(self.stream, 4, MAX_FRAME, deadline)
            if not frame:  # a tick (every 15 s by default): the node checks that we are alive
                self.stream.sendall(b"\0\0\0\0")
                continue
            control, payload = parse_message(frame)
            to_us = control[:1] in ((OP_SEND,), (OP_SEND_SENDER,))
            if to_us and isinstance(payload, tuple) and len(payload) == 2 and payload[0] == ref:
                return payload[1]
            strays += 1
        raise DistError(PROTOCOL, "the node sent many messages, none of them the answer")

    def close(self) -> None:
        self.stream.close()


def parse_message(frame: bytes) -> tuple[tuple[Term, ...], Term | None]:
    """A pass-through distribution message: its control tuple and payload (None if none)."""
    if frame[:1] != b"p":
        raise DistError(PROTOCOL, "the node sent a message that is not a pass-through frame")
    try:
        control, end = _versioned(frame, 1)
        payload: Term | None = None
        if end < len(frame):
            payload, end = _versioned(frame, end)
    except TermError as error:
        raise DistError(PROTOCOL, f"the node sent a malformed term: {error}") from None
    if end != len(frame) or not isinstance(control, tuple) or not control:
        raise DistError(PROTOCOL, "the node sent a malformed message")
    return control, payload


def _versioned(frame: bytes, at: int) -> tuple[Term, int]:
    """A term of a pass-through message: each starts with its own version byte."""
    if frame[at : at + 1] != bytes([VERSION]):
        raise TermError("no version byte before a term")
    return decode_from(frame, at + 1)


def connect(
    open_stream: Opener,
    alive: str,
    own_name: str,
    cookie: str,
    *,
    epmd_port: int = EPMD_PORT,
    dist_port: int | None = None,
    timeout: float = 5.0,
) -> Session:
    """A Session with the node `alive@...`: its port from epmd (or `dist_port`, for a node
    started without epmd), then the handshake, each step within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    version = 6
    if dist_port is None:
        entry = epmd_lookup(open_stream, epmd_port, alive, timeout)
        dist_port, version = entry.port, min(entry.highest, 6)
        if version < 5:
            raise DistError(PROTOCOL, f"the node speaks distribution version {entry.highest}")
    stream = open_stream(dist_port)
    try:
        stream.settimeout(timeout)
        node = handshake(stream, own_name, cookie, version, deadline)
    except BaseException:
        stream.close()
        raise
    return Session(stream, own_name, node, timeout)


def own_node_name(node_host: str) -> str:
    """A name nobody else uses, on the node's own host part (a short-name node accepts only
    short names, a long-name node only long ones)."""
    return f"deliver_{os.urandom(6).hex()}@{node_host}"


def _read_frame(stream: Stream, header: int, limit: int, deadline: float) -> bytes:
    (size,) = struct.unpack(">H" if header == 2 else ">I", _read_exact(stream, header, deadline))
    if size > limit:
        raise DistError(PROTOCOL, f"the node sent a {size}-byte frame (at most {limit} read)")
    return _read_exact(stream, size, deadline)


def _read_exact(stream: Stream, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = _recv(stream, size - len(data), deadline)
        if not chunk:
            raise DistError(UNREACHABLE, "the node closed the connection")
        data += chunk
    return bytes(data)


def _read_until_closed(stream: Stream, limit: int, deadline: float) -> bytes:
    data = bytearray()
    while chunk := _recv(stream, limit + 1 - len(data), deadline):
        data += chunk
        if len(data) > limit:
            raise DistError(PROTOCOL, "epmd's answer is too long")
    return bytes(data)


def _recv(stream: Stream, size: int, deadline: float) -> bytes:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DistError(TIMEOUT, "the node did not answer in time")
    stream.settimeout(left)
    try:
        return stream.recv(min(size, 1 << 16))
    except TimeoutError:
        raise DistError(TIMEOUT, "the node did not answer in time") from None
    except OSError as error:
        raise DistError(UNREACHABLE, f"the connection to the node broke: {error}") from None


def _random32() -> int:
    value: int = struct.unpack(">I", os.urandom(4))[0]
    return value or 1


def _brief(term: Term) -> str:
    text = repr(term)
    return text if len(text) <= 300 else text[:300] + "..."
