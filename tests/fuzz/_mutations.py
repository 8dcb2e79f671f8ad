"""Byte mutations of JSONL files shared by the fuzz tests (one definition of "a hostile JSONL file").

Each call applies 1-4 of: a byte flip, random bytes inserted, deep ``[`` nesting (up to 50,000),
a long run of digits (an integer over Python's 4300-digit limit), truncation, a repeated line,
a stray byte sequence (invalid UTF-8, a lone surrogate escape, NUL, CR) or a stray JSON token.
"""

from __future__ import annotations

import random


def mutate_jsonl_bytes(rng: random.Random, data: bytes) -> bytes:
    """A seeded hostile variant of a JSONL file's bytes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            depth = rng.choice((10, 1000, 50_000))
            buf[pos:pos] = b"[" * depth + b"]" * rng.choice((0, depth))
        elif op == 3:
            buf[pos:pos] = b"9" * rng.choice((10, 4301, 20_000))
        elif op == 4:
            del buf[pos:]
        elif op == 5:
            lines = bytes(buf).split(b"\n")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
            buf = bytearray(b"\n".join(lines))
        elif op == 6:
            buf[pos:pos] = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\\ud800", b"\r"))
        else:
            buf[pos:pos] = rng.choice((b'"', b"{", b"}", b",", b":", b"\n", b"null", b"NaN", b"1e999"))
    return bytes(buf)
