"""The CLI's shared flag parsing: key=value options, given options, partition selectors."""

from __future__ import annotations

import pytest

from arco.cli.common import given, parse_pairs
from arco.cli.selectors import partition_selector
from arco.errors import ValidationError


def test_key_value_options_become_a_dict_and_a_bad_one_names_the_flag() -> None:
    assert parse_pairs(["team=data", "note=a=b", "empty="], "--tag") == {
        "team": "data",
        "note": "a=b",
        "empty": "",
    }
    assert parse_pairs(None, "--tag") == {}
    for bad in ("nothing", "=value"):
        with pytest.raises(ValidationError) as error:
            parse_pairs([bad], "--filter", allowed="name=value")
        assert (error.value.field, error.value.value, error.value.allowed) == (
            "--filter",
            bad,
            "name=value",
        )


def test_only_given_options_are_sent() -> None:
    assert given(a=1, b=None, c=False, d="") == {"a": 1, "c": False, "d": ""}


@pytest.mark.parametrize(
    ("start", "end", "keys", "filters", "expected"),
    [
        ("a", "b", None, None, {"kind": "range", "start": "a", "end": "b"}),
        (None, None, ["k1", "k2"], None, {"kind": "keys", "keys": ["k1", "k2"]}),
        (
            "a",
            "b",
            None,
            ["region=us-*"],
            {
                "kind": "filter",
                "dimensions": {"region": "us-*"},
                "range": {"kind": "range", "start": "a", "end": "b"},
            },
        ),
        (
            None,
            None,
            None,
            ["key=2024-*"],
            {"kind": "filter", "dimensions": {"key": "2024-*"}, "range": None},
        ),
    ],
)
def test_partition_selectors_from_flags(
    start: str | None,
    end: str | None,
    keys: list[str] | None,
    filters: list[str] | None,
    expected: dict[str, object],
) -> None:
    assert partition_selector(start, end, keys, filters) == expected


@pytest.mark.parametrize(
    ("start", "end", "keys", "filters", "field"),
    [
        ("a", None, None, None, "--to"),
        (None, "b", None, None, "--from"),
        ("a", "b", ["k"], None, "--key"),
        (None, None, ["k"], ["x=y"], "--key"),
        (None, None, None, None, "--from"),
    ],
)
def test_an_incomplete_or_mixed_selection_names_the_flag(
    start: str | None,
    end: str | None,
    keys: list[str] | None,
    filters: list[str] | None,
    field: str,
) -> None:
    with pytest.raises(ValidationError) as error:
        partition_selector(start, end, keys, filters)
    assert error.value.field == field
