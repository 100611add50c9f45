from __future__ import annotations

import copy
import hashlib
import itertools
import json
from typing import Any

import pytest

from accord.audit.chain import (
    FORMAT,
    GENESIS,
    build_event,
    canonical_json,
    event_hash,
    export_document,
    export_json,
    head_hash,
    verify_chain,
)

ENV = "env_chain"


def events(n: int = 5, envelope_id: str = ENV) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for i in range(n):
        prev = build_event(
            envelope_id, prev, tag=f"test:step{i}", actor="agent@example.com",
            occurred_at=f"2024-05-01T10:0{i}:00Z", ip="192.0.2.1" if i % 2 else None,
            user_agent="UA", data={"i": i, "note": "Zoë ✓"},
        )
        out.append(prev)
    return out


def test_event_hash_is_sha256_of_canonical_json() -> None:
    body = {"seq": 1, "tag": "envelope:sent", "actor": "a", "occurred_at": "2024-01-01T00:00:00Z",
            "ip": None, "user_agent": None, "data": {"b": 1, "a": "é"}}
    material = {"envelope_id": ENV, "prev_hash": GENESIS, **body}
    expected = hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        .encode("utf-8")
    ).hexdigest()
    assert event_hash(GENESIS, ENV, body) == expected
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_hash_ignores_extra_keys_but_binds_envelope_and_prev() -> None:
    body = events(1)[0]
    assert event_hash(GENESIS, ENV, body) == body["hash"]
    assert event_hash(GENESIS, ENV, {**body, "extra": 1}) == body["hash"]
    assert event_hash(GENESIS, "env_other", body) != body["hash"]
    assert event_hash("1" * 64, ENV, body) != body["hash"]


def test_built_chain_links_and_verifies() -> None:
    chain = events()
    assert chain[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(chain))
    assert [e["seq"] for e in chain] == [1, 2, 3, 4, 5]
    ok, detail = verify_chain(ENV, chain)
    assert ok
    assert chain[-1]["hash"] in detail


def test_empty_chain_is_valid() -> None:
    assert verify_chain(ENV, []) == (True, "empty chain")
    assert head_hash([]) == GENESIS


def test_edit_is_detected() -> None:
    chain = events()
    chain[2]["data"]["i"] = 99
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert "seq 3" in detail
    assert "hash mismatch" in detail


def test_edit_with_recomputed_hash_breaks_next_link() -> None:
    chain = events()
    chain[2]["actor"] = "mallory"
    chain[2]["hash"] = event_hash(chain[2]["prev_hash"], ENV, chain[2])
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert "seq 4" in detail
    assert "prev_hash" in detail


def test_deletion_is_detected() -> None:
    chain = events()
    del chain[1]
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert "seq 3" in detail
    assert "gap" in detail


def test_deleting_the_first_event_is_detected() -> None:
    ok, detail = verify_chain(ENV, events()[1:])
    assert not ok
    assert "seq 2" in detail


def test_reorder_is_detected() -> None:
    chain = events()
    chain[1], chain[2] = chain[2], chain[1]
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert "seq 3" in detail


def test_duplicate_seq_is_detected() -> None:
    chain = events()
    chain.insert(2, copy.deepcopy(chain[1]))
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert "seq 2" in detail
    assert "duplicated" in detail


def test_seq_gap_is_detected() -> None:
    chain = events()
    chain[3]["seq"] = 7
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert "seq 7" in detail


def test_wrong_envelope_is_detected() -> None:
    ok, detail = verify_chain("env_other", events())
    assert not ok
    assert "seq 1" in detail


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("hash"), "lacks hash"),
        (lambda e: e.update(seq="1"), "non-integer"),
        (lambda e: e.update(seq=True), "non-integer"),
        (lambda e: e.update(data=[1]), "data is not an object"),
    ],
)
def test_malformed_events_are_reported(mutate: Any, message: str) -> None:
    chain = events(2)
    mutate(chain[0])
    ok, detail = verify_chain(ENV, chain)
    assert not ok
    assert message in detail


def test_non_mapping_event_is_reported() -> None:
    ok, detail = verify_chain(ENV, [42])  # type: ignore[list-item]
    assert not ok
    assert "not an object" in detail


def test_export_document() -> None:
    chain = events(3)
    document = export_document(ENV, chain)
    assert document == {
        "format": FORMAT,
        "envelope_id": ENV,
        "count": 3,
        "head_hash": chain[-1]["hash"],
        "events": chain,
    }
    assert export_document(ENV, [])["head_hash"] == GENESIS
    assert json.loads(export_json(ENV, chain)) == document
    assert "Zoë ✓" in export_json(ENV, chain).decode("utf-8")


def test_export_keeps_only_event_fields() -> None:
    chain = events(2)
    decorated = [{**e, "id": 123, "org_id": "org"} for e in chain]
    assert export_document(ENV, decorated)["events"] == chain
