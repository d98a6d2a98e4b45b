"""Identity (DESIGN §3): run ids are a pure, namespaced HMAC of the run key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from arco.ids import (
    canonical_json,
    derived_ulid,
    new_ulid,
    request_fingerprint,
    run_id_from_run_key,
)

RUN_ID = re.compile(r"^run_[a-z2-7]{26}$")
names = st.text(min_size=1, max_size=40)


def test_l2_inv_9_run_id_known_answer_vector() -> None:
    digest = hmac.new(b"s3cret", b"acme:prod:sched:01J:1700000000", hashlib.sha256).digest()
    expected = "run_" + base64.b32encode(digest[:16]).decode().lower()[:26]
    assert run_id_from_run_key("acme", "prod", "sched:01J:1700000000", "s3cret") == expected


@given(tenant=names, workspace=names, run_key=names, secret=names)
def test_l2_inv_9_run_id_is_a_pure_function_of_its_inputs(
    tenant: str, workspace: str, run_key: str, secret: str
) -> None:
    first = run_id_from_run_key(tenant, workspace, run_key, secret)
    assert first == run_id_from_run_key(tenant, workspace, run_key, secret)
    assert RUN_ID.match(first), first


def test_l2_inv_9_run_id_is_namespaced_by_tenant_workspace_and_secret() -> None:
    base = run_id_from_run_key("acme", "prod", "k", "s")
    assert base != run_id_from_run_key("other", "prod", "k", "s")
    assert base != run_id_from_run_key("acme", "dev", "k", "s")
    assert base != run_id_from_run_key("acme", "prod", "k", "s2")
    assert base != run_id_from_run_key("acme", "prod", "k2", "s")


def test_fingerprint_ignores_order_of_assets_and_tags_but_not_content() -> None:
    one = request_fingerprint(["b", "a"], {"kind": "keys", "keys": ["x"]}, {"x": "1", "y": "2"})
    two = request_fingerprint(["a", "b"], {"keys": ["x"], "kind": "keys"}, {"y": "2", "x": "1"})
    assert one == two
    assert one != request_fingerprint(["a", "b"], {"kind": "keys", "keys": ["y"]})
    assert re.fullmatch(r"[0-9a-f]{64}", one)


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'


def test_derived_ulid_is_deterministic_and_carries_the_time() -> None:
    at = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    one, two = derived_ulid(at, "seed"), derived_ulid(at, "seed")
    assert one == two
    assert one != derived_ulid(at, "other seed")
    assert ULID.from_str(one).datetime == at


def test_new_ulid_is_random() -> None:
    assert new_ulid() != new_ulid()
    assert len(new_ulid()) == 26
