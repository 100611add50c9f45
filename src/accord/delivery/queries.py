"""The outbox as other features see their own queued messages: the state of given rows,
restarting them, discarding them. A feature keeps the outbox ids it queued (``enqueue``
returns the row) and asks here; it never reads the ``outbox`` table itself."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from accord.delivery.domain import DEAD, PENDING
from accord.delivery.models import OutboxMessage

# ``failed``: dead, or pending after at least one failed attempt
STATE_FILTERS = ("pending", "delivered", "dead", "failed")


@dataclass(frozen=True)
class OutboxState:
    id: str
    status: str  # pending, delivered, dead
    attempts: int  # failed attempts so far (since the last restart)
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


def _state(row: OutboxMessage) -> OutboxState:
    return OutboxState(id=row.id, status=row.status, attempts=row.attempts,
                       next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                       delivered_at=row.delivered_at)


def states(session: Session, ids: Collection[str]) -> dict[str, OutboxState]:
    """The state of each of these outbox rows that still exists, by id."""
    if not ids:
        return {}
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(list(ids))))
    return {r.id: _state(r) for r in rows}


def ids_in_state(state: str) -> Any:
    """A subquery of the ids of outbox rows in ``state`` (one of STATE_FILTERS), to filter
    a feature's own rows by: ``Mine.outbox_id.in_(ids_in_state("failed"))``."""
    if state not in STATE_FILTERS:
        raise ValueError(f"not an outbox state filter: {state!r}")
    if state == "failed":
        cond = or_(OutboxMessage.status == DEAD,
                   (OutboxMessage.status == PENDING) & (OutboxMessage.attempts > 0))
    else:
        cond = OutboxMessage.status == state
    return select(OutboxMessage.id).where(cond).scalar_subquery()


def lock_state(session: Session, outbox_id: str) -> OutboxState | None:
    """The row's state, locked for the rest of the transaction (PostgreSQL); None if the
    row is gone (delivered rows are cleaned up)."""
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id)
                         .with_for_update())
    return None if row is None else _state(row)


_RESTART: dict[str, Any] = {"status": PENDING, "attempts": 0, "locked_until": None,
                            "delivered_at": None}


def restart(session: Session, outbox_id: str, now: datetime) -> OutboxState:
    """Deliver the row again from its first attempt (a replay); its state afterwards."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        raise LookupError(f"no outbox row {outbox_id}")
    for name, value in _RESTART.items():
        setattr(row, name, value)
    row.next_attempt_at = now
    session.flush()
    return _state(row)


def restart_dead(session: Session, ids: Any, now: datetime) -> int:
    """Restart every dead row among ``ids`` (ids or a subquery of them); how many."""
    result = session.connection().execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == DEAD)
        .values(next_attempt_at=now, **_RESTART))
    return int(getattr(result, "rowcount", 0) or 0)


def discard(session: Session, ids: Any) -> None:
    """Delete the rows among ``ids`` (ids or a subquery of them), whatever their state."""
    session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
