"""The PostgreSQL text escape: reversible, injective, and invisible for ordinary strings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arco.storage.types import ESCAPE, decode, encode

# Strings rich in the two characters the escape is about.
texts = st.text(alphabet=st.sampled_from(["a", "0", "\x00", ESCAPE, "é"]), max_size=12) | st.text()


@given(texts)
def test_decode_reverses_encode(value: str) -> None:
    assert decode(encode(value)) == value


@given(texts)
def test_what_is_stored_never_holds_nul(value: str) -> None:
    assert "\x00" not in encode(value)


@given(texts, texts)
def test_different_strings_stay_different(a: str, b: str) -> None:
    if a != b:
        assert encode(a) != encode(b)


@given(st.text().filter(lambda v: "\x00" not in v and ESCAPE not in v))
def test_ordinary_strings_are_stored_as_they_are(value: str) -> None:
    assert encode(value) == value


def test_known_forms() -> None:
    assert encode("a\x00b") == f"a{ESCAPE}0b"
    assert encode(f"x{ESCAPE}") == f"x{ESCAPE}{ESCAPE}"
    assert decode(f"{ESCAPE}{ESCAPE}0") == f"{ESCAPE}0"
