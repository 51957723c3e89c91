"""The term codec against byte strings written from the external term format's documentation
(erts, "External Term Format"), against a real `erl`, and against hostile input."""

from __future__ import annotations

import subprocess

import pytest

from deliver.transport.erlterm import (
    MAX_DEPTH,
    Atom,
    Pid,
    Port,
    Reference,
    Term,
    TermError,
    decode,
    encode,
    text,
)

NODE = Atom("n@h")
# SMALL_ATOM_UTF8_EXT (119) of "n@h"
NODE_BYTES = "77 03 6e 40 68"


@pytest.mark.parametrize(
    ("term", "wire"),
    [
        (1, "61 01"),  # SMALL_INTEGER_EXT
        (300, "62 00 00 01 2c"),  # INTEGER_EXT, big-endian signed
        (-1, "62 ff ff ff ff"),
        (2**40, "6e 06 00 00 00 00 00 00 01"),  # SMALL_BIG_EXT: n, sign, little-endian digits
        (-(2**40), "6e 06 01 00 00 00 00 00 01"),
        (1.5, "46 3f f8 00 00 00 00 00 00"),  # NEW_FLOAT_EXT, IEEE 754 big-endian
        (Atom("ok"), "77 02 6f 6b"),
        (True, "77 04 74 72 75 65"),
        ((Atom("ok"), 1), "68 02 77 02 6f 6b 61 01"),  # SMALL_TUPLE_EXT
        ([], "6a"),  # NIL_EXT
        ([1, 2], "6c 00 00 00 02 61 01 61 02 6a"),  # LIST_EXT: count, elements, tail NIL
        (b"hi", "6d 00 00 00 02 68 69"),  # BINARY_EXT
        ({Atom("a"): 1}, "74 00 00 00 01 77 01 61 61 01"),  # MAP_EXT
        (Pid(NODE, 1, 0, 7), f"58 {NODE_BYTES} 00 00 00 01 00 00 00 00 00 00 00 07"),
        (
            Reference(NODE, 7, (1, 2, 3)),
            f"5a 00 03 {NODE_BYTES} 00 00 00 07 00 00 00 01 00 00 00 02 00 00 00 03",
        ),
        (Port(NODE, 5, 7), f"78 {NODE_BYTES} 00 00 00 00 00 00 00 05 00 00 00 07"),
    ],
)
def test_terms_encode_as_documented_and_decode_back(term: Term, wire: str) -> None:
    data = bytes([131]) + bytes.fromhex(wire)
    assert encode(term) == data
    assert decode(data) == (Atom("true") if term is True else term)


def test_older_encodings_decode_too() -> None:
    assert decode(bytes.fromhex("83 6b 00 02 68 69")) == [104, 105]  # STRING_EXT: a charlist
    assert decode(bytes.fromhex("83 64 00 02 6f 6b")) == Atom("ok")  # ATOM_EXT (latin-1)
    assert decode(bytes.fromhex("83 73 02 6f 6b")) == Atom("ok")  # SMALL_ATOM_EXT
    assert decode(bytes.fromhex("83 69 00 00 00 01 61 05")) == (5,)  # LARGE_TUPLE_EXT
    assert decode(bytes.fromhex("83 6f 00 00 00 01 00 05")) == 5  # LARGE_BIG_EXT
    assert decode(bytes.fromhex(f"83 59 {NODE_BYTES} 00 00 00 05 00 00 00 07")) == Port(
        NODE, 5, 7
    )  # NEW_PORT_EXT


def test_a_str_is_sent_as_a_utf8_binary_and_text_reads_both_string_forms() -> None:
    assert encode("é") == bytes.fromhex("83 6d 00 00 00 02 c3 a9")
    assert text(b"0.1.0") == "0.1.0"
    assert text([48, 46, 49]) == "0.1"
    assert text(Atom("false")) is None
    assert text([Atom("x")]) is None


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("", "no version byte"),
        ("82 61 01", "no version byte"),
        ("83 6d 00 00 00 10 61 62", "truncated"),  # a binary longer than what follows
        ("83 6c ff ff ff ff 6a", "truncated"),  # a list count beyond the rest
        ("83 68 02 61 01", "truncated"),
        ("83 61 01 61 02", "bytes after the term"),
        ("83 50 00 00 00 04 78 9c 03 00", "unsupported term tag 80"),  # compressed: refused
        ("83 70 00 00 00 00", "unsupported term tag 112"),  # funs: refused
        ("83 6c 00 00 00 01 61 01 61 02", "improper lists"),
        ("83 6f 00 00 10 00 00", "integer too large"),
        ("83 74 00 00 00 01 6c 00 00 00 01 61 01 6a 61 01", "map keys"),
        ("83 5a 00 09 77 01 6e 00 00 00 01", "1 to 5 words"),
        ("83 77 02 c3 28", "not valid UTF-8"),
    ],
)
def test_malformed_input_is_a_term_error(wire: str, problem: str) -> None:
    with pytest.raises(TermError, match=problem):
        decode(bytes.fromhex(wire))


def test_nesting_is_bounded_both_ways() -> None:
    deep = bytes([131]) + bytes.fromhex("68 01") * (MAX_DEPTH + 5) + bytes.fromhex("6a")
    with pytest.raises(TermError, match="nested too deeply"):
        decode(deep)
    term: Term = []
    for _ in range(MAX_DEPTH + 5):
        term = (term,)
    with pytest.raises(TermError, match="nested too deeply"):
        encode(term)


def test_what_cannot_be_encoded_is_refused() -> None:
    with pytest.raises(TermError, match="atom too long"):
        encode(Atom("a" * 256))
    with pytest.raises(TermError, match="integer too large"):
        encode(2**4096)
    with pytest.raises(TermError, match="cannot encode"):
        encode(object())  # type: ignore[arg-type]


def test_a_real_erl_reads_what_we_write_and_we_read_what_it_writes() -> None:
    ours = encode((Atom("ok"), [1, 300, -5, 2**70], b"bin", "é", 1.5, {Atom("k"): [Atom("v")]}, []))
    erlang_term = (
        '{ok, [1, 300, -5, 1180591620717411303424], <<"bin">>, <<"é"/utf8>>, 1.5, #{k => [v]}, []}'
    )
    program = (
        f"Ours = binary_to_term(<<{','.join(map(str, ours))}>>), "
        f"Ours = {erlang_term}, "
        'io:format("~w", [binary_to_list(term_to_binary({self(), make_ref(), '
        "\"charlist\", [{a, 1}], 'Ünïcödé'}))]), halt()."
    )
    done = subprocess.run(
        ["erl", "-noshell", "-eval", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr + done.stdout
    theirs = decode(bytes(int(b) for b in done.stdout.strip("[]\n").split(",")))
    assert isinstance(theirs, tuple) and len(theirs) == 5
    pid, ref, charlist, pairs, atom = theirs
    assert isinstance(pid, Pid) and pid.node == Atom("nonode@nohost")
    assert isinstance(ref, Reference) and ref.node == Atom("nonode@nohost")
    assert text(charlist) == "charlist"
    assert pairs == [(Atom("a"), 1)]
    assert atom == Atom("Ünïcödé")
