"""Column types that store any Python string on every backend, unchanged on the way back.

PostgreSQL ``text`` cannot hold NUL, and run keys, partition keys and names come
from user code and clients: one such string in a key column would fail every
append or fold that touches it (a compactor stuck on one event). On PostgreSQL
these columns store an escaped form; SQLite stores the string as it is.

The escape is injective and reversible, and the identity for every string
without NUL or the escape character (a Unicode noncharacter), so stored keys
stay readable and sort as before:  ESC → ESC ESC,  NUL → ESC "0".
"""

from __future__ import annotations

from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

ESCAPE = "\U0010fffe"
_NUL = "\x00"


def encode(value: str) -> str:
    """The form PostgreSQL stores (unchanged unless ``value`` holds NUL or ESCAPE)."""
    if _NUL not in value and ESCAPE not in value:
        return value
    return value.replace(ESCAPE, ESCAPE + ESCAPE).replace(_NUL, ESCAPE + "0")


def decode(stored: str) -> str:
    """The string :func:`encode` was given."""
    if ESCAPE not in stored:
        return stored
    out: list[str] = []
    chars = iter(stored)
    for char in chars:
        if char != ESCAPE:
            out.append(char)
            continue
        following = next(chars, "")
        out.append(ESCAPE if following == ESCAPE else _NUL)
    return "".join(out)


class AnyText(TypeDecorator[str]):
    """``TEXT`` that round-trips any ``str`` (NUL included) on PostgreSQL too."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        return encode(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        return decode(value)
