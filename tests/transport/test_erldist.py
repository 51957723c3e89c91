"""The distribution client's framing (from erts' "Distribution Protocol" documentation) and
its handshake and rpc against a scripted peer on a socket pair: what a node sends, and what a
hostile or broken one could."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from deliver.transport import erldist
from deliver.transport.erldist import (
    FLAG_HANDSHAKE_23,
    FLAGS_V5,
    FLAGS_V6,
    DistError,
    EpmdEntry,
    Session,
    challenge_reply,
    digest,
    handshake,
    parse_challenge,
    parse_message,
    parse_port2_resp,
    port_please2,
    send_name_v5,
    send_name_v6,
)
from deliver.transport.erlterm import Atom, Pid, Reference, decode, encode

COOKIE = "monster"
NODE_CHALLENGE = 0xDEADBEEF


def test_epmd_request_and_answers() -> None:
    # PORT_PLEASE2_REQ: Length(2) 122 NodeName
    assert port_please2("hello") == b"\x00\x06\x7ahello"
    with pytest.raises(DistError):
        port_please2("hello@host")
    # PORT2_RESP: 119 Result PortNo(2) NodeType Protocol Highest(2) Lowest(2) Nlen(2) Name Elen(2)
    answer = bytes.fromhex("77 00 a4 1f 4d 00 00 06 00 05 00 05") + b"hello" + b"\x00\x00"
    assert parse_port2_resp(answer) == EpmdEntry(42015, 6, 5)
    assert parse_port2_resp(b"\x77\x01") is None  # no such node
    for junk in (b"", b"\x78\x00", b"\x77\x00\x01"):
        with pytest.raises(DistError, match="PORT2_RESP"):
            parse_port2_resp(junk)


def test_send_name_frames() -> None:
    assert FLAGS_V6 & FLAG_HANDSHAKE_23 and not FLAGS_V5 & FLAG_HANDSHAKE_23
    # v6: 'N' Flags(8) Creation(4) Nlen(2) Name
    assert send_name_v6("a@b", 7) == b"N" + struct.pack(">QIH", FLAGS_V6, 7, 3) + b"a@b"
    # v5: 'n' Version(2)=5 Flags(4) Name
    assert send_name_v5("a@b") == b"n\x00\x05" + struct.pack(">I", FLAGS_V5) + b"a@b"


def test_challenges_of_both_versions_and_the_digest() -> None:
    v6 = b"N" + struct.pack(">QIIH", FLAGS_V6, NODE_CHALLENGE, 9, 5) + b"x@box"
    parsed = parse_challenge(v6)
    assert (parsed.name, parsed.challenge, parsed.creation) == ("x@box", NODE_CHALLENGE, 9)
    v5 = b"n\x00\x05" + struct.pack(">II", FLAGS_V5, 42) + b"x@box"
    assert parse_challenge(v5).challenge == 42 and parse_challenge(v5).name == "x@box"
    for broken in (b"N\x00", b"n", b"Q" + v6[1:], v6[:-1]):
        with pytest.raises(DistError):
            parse_challenge(broken)
    # md5(Cookie ++ integer_to_list(Challenge)), the challenge in decimal
    assert digest(COOKIE, 42) == hashlib.md5(b"monster42").digest()
    assert (
        challenge_reply(5, COOKIE, 42) == b"r\x00\x00\x00\x05" + hashlib.md5(b"monster42").digest()
    )


def frame2(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def read2(peer: socket.socket) -> bytes:
    (size,) = struct.unpack(">H", recv_exact(peer, 2))
    return recv_exact(peer, size)


def recv_exact(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


Peer = Callable[[socket.socket], None]


@pytest.fixture
def pair() -> Iterator[Callable[[Peer], socket.socket]]:
    """Our end of a socket pair whose other end runs `peer` in a thread."""
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []

    def start(peer: Peer) -> socket.socket:
        ours, theirs = socket.socketpair()
        sockets.extend((ours, theirs))

        def run() -> None:
            try:
                peer(theirs)
            except (EOFError, OSError):
                pass
            finally:
                theirs.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return ours

    yield start
    for s in sockets:
        s.close()
    for thread in threads:
        thread.join(timeout=5)


def node_peer(cookie: str, status: bytes = b"sok", ack: bool = True) -> Peer:
    """The accepting side of a v6 handshake, as erts' dist_util runs it."""

    def peer(sock: socket.socket) -> None:
        name = read2(sock)
        assert name[:1] == b"N" and name.endswith(b"@localhost")
        sock.sendall(frame2(status))
        if status != b"sok":
            return
        challenge = b"N" + struct.pack(">QIIH", FLAGS_V6, NODE_CHALLENGE, 3, 8) + b"x@remote"
        sock.sendall(frame2(challenge))
        reply = read2(sock)
        ours = struct.unpack(">I", reply[1:5])[0]
        if reply[5:] != digest(cookie, NODE_CHALLENGE):
            return  # a node hangs up on a wrong digest
        sock.sendall(frame2(b"a" + (digest(cookie, ours) if ack else bytes(16))))

    return peer


def test_a_handshake_with_the_right_cookie(pair: Callable[[Peer], socket.socket]) -> None:
    ours = pair(node_peer(COOKIE))
    done = handshake(ours, "me@localhost", COOKIE, 6, time.monotonic() + 5)
    assert done.node == "x@remote" and done.creation != 0


def test_a_node_that_knows_only_version_5_gets_the_old_handshake(
    pair: Callable[[Peer], socket.socket],
) -> None:
    def old_node(sock: socket.socket) -> None:  # OTP 22 and older: 'n' both ways
        name = read2(sock)
        assert name[:3] == b"n\x00\x05" and name[7:] == b"me@localhost"
        sock.sendall(frame2(b"sok"))
        sock.sendall(frame2(b"n\x00\x05" + struct.pack(">II", FLAGS_V5, 77) + b"old@box"))
        reply = read2(sock)
        assert reply[5:] == digest(COOKIE, 77)
        sock.sendall(frame2(b"a" + digest(COOKIE, struct.unpack(">I", reply[1:5])[0])))

    done = handshake(pair(old_node), "me@localhost", COOKIE, 5, time.monotonic() + 5)
    assert done == erldist.Handshaken("old@box", 0)


@pytest.mark.parametrize(
    ("peer", "kind", "message"),
    [
        (node_peer("another"), erldist.COOKIE, "the node refused deliver's cookie"),
        (node_peer(COOKIE, ack=False), erldist.COOKIE, "does not hold the cookie"),
        (node_peer(COOKIE, status=b"snot_allowed"), erldist.REFUSED, "not_allowed"),
        (node_peer(COOKIE, status=b"xok"), erldist.PROTOCOL, "status is malformed"),
    ],
)
def test_a_refused_handshake_says_why(
    pair: Callable[[Peer], socket.socket], peer: Peer, kind: str, message: str
) -> None:
    ours = pair(peer)
    with pytest.raises(DistError, match=message) as refused:
        handshake(ours, "me@localhost", COOKIE, 6, time.monotonic() + 5)
    assert refused.value.kind == kind


def test_a_silent_or_flooding_peer_ends_in_time(pair: Callable[[Peer], socket.socket]) -> None:
    def silent_peer(sock: socket.socket) -> None:
        read2(sock)
        sock.recv(1)  # says nothing until we hang up

    silent = pair(silent_peer)
    started = time.monotonic()
    with pytest.raises(DistError, match="did not answer in time") as late:
        handshake(silent, "me@localhost", COOKIE, 6, time.monotonic() + 0.3)
    assert late.value.kind == erldist.TIMEOUT and time.monotonic() - started < 2

    def flood(sock: socket.socket) -> None:
        read2(sock)
        sock.sendall(b"\xff\xff" + b"s" * 100)

    with pytest.raises(DistError, match="65535-byte frame"):
        handshake(pair(flood), "me@localhost", COOKIE, 6, time.monotonic() + 5)


def rex_peer(answer: Callable[[tuple[object, ...]], list[bytes]]) -> Peer:
    """A node's side after the handshake: reads one rpc request, sends what `answer` gives."""

    def peer(sock: socket.socket) -> None:
        (size,) = struct.unpack(">I", recv_exact(sock, 4))
        control, message = parse_message(recv_exact(sock, size))
        assert control[0] == 6 and control[3] == Atom("rex")  # REG_SEND to rex
        assert isinstance(message, tuple)
        for frame in answer(message):
            sock.sendall(struct.pack(">I", len(frame)) + frame)
        sock.recv(1)  # until we hang up

    return peer


def reply_frame(to: object, payload: object) -> bytes:
    return b"p" + encode((2, Atom(""), to)) + encode(payload)  # type: ignore[arg-type]


def session(sock: socket.socket) -> Session:
    return Session(sock, "me@localhost", erldist.Handshaken("x@remote", 5), timeout=2)


def test_an_rpc_reads_its_reply_past_ticks_and_strays(
    pair: Callable[[Peer], socket.socket],
) -> None:
    def answer(message: tuple[object, ...]) -> list[bytes]:
        tag, (pid, ref), request = message
        assert tag == Atom("$gen_call") and isinstance(pid, Pid) and isinstance(ref, Reference)
        assert request == (Atom("call"), Atom("erlang"), Atom("node"), [], Atom("user"))
        stray = Reference(Atom("x@remote"), 1, (99, 0, 0))
        return [
            b"",
            reply_frame(pid, (stray, Atom("other"))),
            reply_frame(pid, (ref, Atom("x@remote"))),
        ]

    assert session(pair(rex_peer(answer))).rpc("erlang", "node", []) == Atom("x@remote")


def test_a_failed_call_is_badrpc(pair: Callable[[Peer], socket.socket]) -> None:
    def answer(message: tuple[object, ...]) -> list[bytes]:
        _, (pid, ref), _ = message
        return [reply_frame(pid, (ref, (Atom("badrpc"), (Atom("EXIT"), Atom("undef")))))]

    with pytest.raises(DistError, match="nomod:f failed on the node") as failed:
        session(pair(rex_peer(answer))).rpc("nomod", "f", [])
    assert failed.value.kind == erldist.BADRPC


def test_a_malformed_reply_is_a_protocol_error(pair: Callable[[Peer], socket.socket]) -> None:
    with pytest.raises(DistError, match="malformed term") as broken:
        session(pair(rex_peer(lambda m: [b"p\x83\x6d\x00\x00\x00\x09ab"]))).rpc("m", "f", [])
    assert broken.value.kind == erldist.PROTOCOL
    with pytest.raises(DistError, match="not a pass-through"):
        session(pair(rex_peer(lambda m: [b"\x83\x44\x00"]))).rpc("m", "f", [])


def test_a_node_that_never_answers_times_out(pair: Callable[[Peer], socket.socket]) -> None:
    with pytest.raises(DistError) as late:
        session(pair(rex_peer(lambda m: []))).rpc("m", "f", [], timeout=0.2)
    assert late.value.kind == erldist.TIMEOUT
    assert decode(encode(Atom("x"))) == Atom("x")
