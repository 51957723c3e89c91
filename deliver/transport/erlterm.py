"""Erlang's external term format (what `term_to_binary/1` writes), the subset a distribution
client needs: numbers, atoms, tuples, lists, binaries, maps, pids, references and ports.

Decoding is for bytes that came over the network: every length is checked against what is
left, nesting is bounded, compressed terms, funs and bit strings are refused (nothing deliver
asks returns them), and any malformed input raises TermError, never another exception.
Atoms stay atoms (`undefined` is not None, `true` is Atom("true")), a binary is bytes and a
string (a list of small integers, STRING_EXT) a list of ints, so a term means one thing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 131
NEW_FLOAT = 70
NEW_PID = 88
NEW_PORT = 89
NEWER_REFERENCE = 90
SMALL_INTEGER = 97
INTEGER = 98
ATOM = 100
SMALL_TUPLE = 104
LARGE_TUPLE = 105
NIL = 106
STRING = 107
LIST = 108
BINARY = 109
SMALL_BIG = 110
LARGE_BIG = 111
SMALL_ATOM = 115
MAP = 116
ATOM_UTF8 = 118
SMALL_ATOM_UTF8 = 119
V4_PORT = 120

#: Deeper terms than this are refused: nothing deliver asks nests more than a few levels, and
#: recursion must not be the remote side's to exhaust.
MAX_DEPTH = 64
#: Integers beyond 2**2048 are refused (a bignum's cost grows with its length).
MAX_BIG_BYTES = 256


class TermError(ValueError):
    """Bytes that are not a term this codec takes, or a value it cannot encode."""


@dataclass(frozen=True)
class Atom:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Pid:
    node: Atom
    id: int
    serial: int
    creation: int


@dataclass(frozen=True)
class Reference:
    node: Atom
    creation: int
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Port:
    node: Atom
    id: int
    creation: int


Term = (
    int
    | float
    | Atom
    | bytes
    | str
    | tuple["Term", ...]
    | list["Term"]
    | dict["Term", "Term"]
    | Pid
    | Reference
    | Port
)


def encode(term: Term) -> bytes:
    """`term_to_binary(Term)`: a str is sent as a UTF-8 binary (Elixir's strings)."""
    out = bytearray([VERSION])
    _encode(term, out, 0)
    return bytes(out)


def _encode(term: Term, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise TermError("term nested too deeply")
    if isinstance(term, bool):
        _atom("true" if term else "false", out)
    elif isinstance(term, int):
        _integer(term, out)
    elif isinstance(term, float):
        out += struct.pack(">Bd", NEW_FLOAT, term)
    elif isinstance(term, Atom):
        _atom(term.name, out)
    elif isinstance(term, bytes | str):
        data = term.encode() if isinstance(term, str) else term
        out += struct.pack(">BI", BINARY, len(data)) + data
    elif isinstance(term, tuple):
        size = len(term)
        out += (
            struct.pack(">BB", SMALL_TUPLE, size)
            if size < 256
            else struct.pack(">BI", LARGE_TUPLE, size)
        )
        for item in term:
            _encode(item, out, depth + 1)
    elif isinstance(term, list):
        _list(term, out, depth)
    elif isinstance(term, dict):
        out += struct.pack(">BI", MAP, len(term))
        for key, value in term.items():
            _encode(key, out, depth + 1)
            _encode(value, out, depth + 1)
    else:
        _identifier(term, out)


def _list(term: list[Term], out: bytearray, depth: int) -> None:
    if term:
        out += struct.pack(">BI", LIST, len(term))
        for item in term:
            _encode(item, out, depth + 1)
    out.append(NIL)


def _identifier(term: Pid | Reference | Port, out: bytearray) -> None:
    if isinstance(term, Pid):
        out.append(NEW_PID)
        _atom(term.node.name, out)
        out += struct.pack(">III", term.id, term.serial, term.creation)
    elif isinstance(term, Reference):
        out += struct.pack(">BH", NEWER_REFERENCE, len(term.ids))
        _atom(term.node.name, out)
        out += struct.pack(f">I{len(term.ids)}I", term.creation, *term.ids)
    elif isinstance(term, Port):
        out.append(V4_PORT)
        _atom(term.node.name, out)
        out += struct.pack(">QI", term.id, term.creation)
    else:
        raise TermError(f"cannot encode {type(term).__name__} as an Erlang term")


def _atom(name: str, out: bytearray) -> None:
    data = name.encode()
    if len(name) > 255:  # Erlang counts an atom's characters, not its bytes
        raise TermError(f"atom too long: {name[:40]!r}...")
    if len(data) < 256:
        out += struct.pack(">BB", SMALL_ATOM_UTF8, len(data)) + data
    else:
        out += struct.pack(">BH", ATOM_UTF8, len(data)) + data


def _integer(value: int, out: bytearray) -> None:
    if 0 <= value < 256:
        out += struct.pack(">BB", SMALL_INTEGER, value)
    elif -(2**31) <= value < 2**31:
        out += struct.pack(">Bi", INTEGER, value)
    else:
        magnitude = abs(value)
        digits = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
        if len(digits) > MAX_BIG_BYTES:
            raise TermError("integer too large")
        out += struct.pack(">BBB", SMALL_BIG, len(digits), int(value < 0)) + digits


def decode(data: bytes) -> Term:
    """`binary_to_term(Data)` of one whole term; TermError for anything else."""
    if not data or data[0] != VERSION:
        raise TermError("not an Erlang term (no version byte 131)")
    term, end = decode_from(data, 1)
    if end != len(data):
        raise TermError(f"{len(data) - end} bytes after the term")
    return term


def decode_from(data: bytes, offset: int) -> tuple[Term, int]:
    """One term (without version byte) starting at `offset`; returns it and where it ends."""
    return _Reader(data, offset).term(0)


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data, self.at = data, offset

    def take(self, count: int) -> bytes:
        if count < 0 or self.at + count > len(self.data):
            raise TermError("term truncated")
        piece = self.data[self.at : self.at + count]
        self.at += count
        return piece

    def unpack(self, fmt: str) -> tuple[int, ...]:
        values: tuple[int, ...] = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return values

    def term(self, depth: int) -> tuple[Term, int]:
        if depth > MAX_DEPTH:
            raise TermError("term nested too deeply")
        (tag,) = self.unpack(">B")
        simple = self.scalar(tag)
        if simple is not None:
            return simple, self.at
        return self.compound(tag, depth), self.at

    def scalar(self, tag: int) -> Term | None:
        if tag == SMALL_INTEGER:
            return self.unpack(">B")[0]
        if tag == INTEGER:
            return self.unpack(">i")[0]
        if tag in (SMALL_BIG, LARGE_BIG):
            (size,) = self.unpack(">B" if tag == SMALL_BIG else ">I")
            if size > MAX_BIG_BYTES:
                raise TermError("integer too large")
            (sign,) = self.unpack(">B")
            magnitude = int.from_bytes(self.take(size), "little")
            return -magnitude if sign else magnitude
        if tag == NEW_FLOAT:
            value: float = struct.unpack(">d", self.take(8))[0]
            return value
        if tag in (ATOM_UTF8, SMALL_ATOM_UTF8, ATOM, SMALL_ATOM):
            return self.atom_body(tag)
        if tag == BINARY:
            (size,) = self.unpack(">I")
            return self.take(size)
        if tag == STRING:
            (size,) = self.unpack(">H")
            return list(self.take(size))
        if tag == NIL:
            return []
        return self.identifier(tag)

    def compound(self, tag: int, depth: int) -> Term:
        if tag in (SMALL_TUPLE, LARGE_TUPLE):
            (size,) = self.unpack(">B" if tag == SMALL_TUPLE else ">I")
            return tuple(self.term(depth + 1)[0] for _ in range(self.bounded(size)))
        if tag == LIST:
            (size,) = self.unpack(">I")
            items = [self.term(depth + 1)[0] for _ in range(self.bounded(size))]
            if self.term(depth + 1)[0] != []:
                raise TermError("improper lists are not supported")
            return items
        if tag == MAP:
            (size,) = self.unpack(">I")
            pairs: dict[Term, Term] = {}
            for _ in range(self.bounded(size)):
                key, value = self.term(depth + 1)[0], self.term(depth + 1)[0]
                try:
                    pairs[key] = value
                except TypeError:  # a list or map as a key: nothing deliver asks has one
                    raise TermError("map keys must be atoms, numbers, binaries or tuples") from None
            return pairs
        raise TermError(f"unsupported term tag {tag}")

    def bounded(self, count: int) -> int:
        """Every element takes at least one byte: a count beyond the rest is a lie."""
        if count > len(self.data) - self.at:
            raise TermError("term truncated")
        return count

    def atom_body(self, tag: int) -> Atom:
        (size,) = self.unpack(">H" if tag in (ATOM_UTF8, ATOM) else ">B")
        raw = self.take(size)
        try:
            return Atom(raw.decode("utf-8" if tag in (ATOM_UTF8, SMALL_ATOM_UTF8) else "latin-1"))
        except UnicodeDecodeError:
            raise TermError("atom is not valid UTF-8") from None

    def node(self) -> Atom:
        (tag,) = self.unpack(">B")
        if tag not in (ATOM_UTF8, SMALL_ATOM_UTF8, ATOM, SMALL_ATOM):
            raise TermError("expected a node name (an atom)")
        return self.atom_body(tag)

    def identifier(self, tag: int) -> Term | None:
        if tag == NEW_PID:
            node = self.node()
            ident, serial, creation = self.unpack(">III")
            return Pid(node, ident, serial, creation)
        if tag == NEWER_REFERENCE:
            (count,) = self.unpack(">H")
            if not 1 <= count <= 5:
                raise TermError(f"a reference has 1 to 5 words, not {count}")
            node = self.node()
            creation, *ids = self.unpack(f">I{count}I")
            return Reference(node, creation, tuple(ids))
        if tag in (NEW_PORT, V4_PORT):
            node = self.node()
            ident, creation = self.unpack(">QI" if tag == V4_PORT else ">II")
            return Port(node, ident, creation)
        return None


def text(term: Term) -> str | None:
    """A string as Erlang or Elixir returns it (a charlist or a UTF-8 binary); None otherwise."""
    if isinstance(term, bytes):
        return term.decode("utf-8", errors="replace")
    if isinstance(term, list) and all(isinstance(c, int) and 0 <= c < 0x110000 for c in term):
        return "".join(chr(c) for c in term if isinstance(c, int))
    return None
