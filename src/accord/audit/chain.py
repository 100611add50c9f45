"""The hash-linked audit chain: hashing, verification and the portable export format.

Pure functions (hashlib and json only) so that the service, the seal and any offline
verifier compute exactly the same thing.

Each event's hash is SHA-256 over canonical JSON (sorted keys, no whitespace, UTF-8) of
``{"envelope_id", "prev_hash", "seq", "tag", "actor", "occurred_at", "ip", "user_agent",
"data"}``; ``prev_hash`` is the previous event's hash, or :data:`GENESIS` for the first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64
FORMAT = "accord-audit-trail/1"
BODY_FIELDS = ("seq", "tag", "actor", "occurred_at", "ip", "user_agent", "data")
EVENT_FIELDS = (*BODY_FIELDS, "prev_hash", "hash")


def canonical_json(value: Any) -> bytes:
    """The canonical byte form hashed for an event."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(prev_hash: str, envelope_id: str, body: Mapping[str, Any]) -> str:
    """The hash of one event, given the previous hash and the event's body fields."""
    material: dict[str, Any] = {"envelope_id": envelope_id, "prev_hash": prev_hash}
    for name in BODY_FIELDS:
        material[name] = body.get(name)
    return hashlib.sha256(canonical_json(material)).hexdigest()


def build_event(
    envelope_id: str,
    prev: Mapping[str, Any] | None,
    *,
    tag: str,
    actor: str,
    occurred_at: str,
    ip: str | None = None,
    user_agent: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The next event after ``prev`` (``None`` for the first), with its links and hash."""
    prev_hash = str(prev["hash"]) if prev is not None else GENESIS
    seq = int(prev["seq"]) + 1 if prev is not None else 1
    event: dict[str, Any] = {
        "seq": seq,
        "tag": tag,
        "actor": actor,
        "occurred_at": occurred_at,
        "ip": ip,
        "user_agent": user_agent,
        "data": dict(data or {}),
    }
    event["prev_hash"] = prev_hash
    event["hash"] = event_hash(prev_hash, envelope_id, event)
    return event


def _shape_problem(position: int, event: object) -> str | None:
    """Why ``event`` cannot be an event at ``position`` (structure and numbering only)."""
    if not isinstance(event, Mapping):
        return f"event #{position} is not an object"
    missing = [name for name in EVENT_FIELDS if name not in event]
    seq = event.get("seq")
    problem: str | None = None
    if missing:
        problem = f"event #{position} lacks {', '.join(missing)}"
    elif not isinstance(seq, int) or isinstance(seq, bool):
        problem = f"event #{position} has a non-integer seq {seq!r}"
    elif seq < position:
        problem = f"seq {seq} at position {position}: duplicated or out of order"
    elif seq > position:
        problem = f"seq {seq} at position {position}: gap, expected seq {position}"
    elif not isinstance(event["data"], Mapping):
        problem = f"seq {seq}: data is not an object"
    return problem


def _link_problem(envelope_id: str, event: Mapping[str, Any], prev_hash: str) -> str | None:
    """Why ``event`` does not hash and link correctly after ``prev_hash``."""
    seq = event["seq"]
    if event["prev_hash"] != prev_hash:
        return f"seq {seq}: prev_hash does not link to the event before it"
    try:
        expected = event_hash(prev_hash, envelope_id, event)
    except (TypeError, ValueError) as exc:
        return f"seq {seq}: cannot be hashed ({exc})"
    if event["hash"] != expected:
        return f"seq {seq}: hash mismatch (the event was altered)"
    return None


def verify_chain(envelope_id: str, events: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
    """Check links, order and hashes; ``(ok, detail)`` names the first bad event.

    Detects an edited event (its hash no longer matches), a deleted or reordered event
    (sequence gap or a broken ``prev_hash`` link), duplicated sequence numbers, and a chain
    that does not start at sequence 1 from :data:`GENESIS`.
    """
    prev_hash = GENESIS
    for position, event in enumerate(events, start=1):
        problem = _shape_problem(position, event) or _link_problem(envelope_id, event, prev_hash)
        if problem:
            return False, problem
        prev_hash = str(event["hash"])
    if not events:
        return True, "empty chain"
    return True, f"{len(events)} events, hashes and links intact; head {prev_hash}"


def head_hash(events: Sequence[Mapping[str, Any]]) -> str:
    """The last event's hash, or :data:`GENESIS` for no events."""
    return str(events[-1]["hash"]) if events else GENESIS


def export_document(envelope_id: str, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The portable audit-trail document (``accord-audit-trail/1``)."""
    plain = [{name: event.get(name) for name in EVENT_FIELDS} for event in events]
    return {
        "format": FORMAT,
        "envelope_id": envelope_id,
        "count": len(plain),
        "head_hash": head_hash(plain),
        "events": plain,
    }


def export_json(envelope_id: str, events: Sequence[Mapping[str, Any]]) -> bytes:
    """:func:`export_document` as UTF-8 JSON bytes (readable, stable key order)."""
    return json.dumps(
        export_document(envelope_id, events), sort_keys=True, ensure_ascii=False, indent=1
    ).encode("utf-8")
