"""The outbox worker: claim due rows under a lease, do the work, record the outcome.

Delivery is at least once. A round is three steps, each in its own short transaction or
in none:

1. claim: select due pending rows whose lease is free (PostgreSQL: ``FOR UPDATE SKIP
   LOCKED``; SQLite: writers are serialised by BEGIN IMMEDIATE) and set
   ``locked_until = now + lease``;
2. work: run the kind's handler and send its email, outside any transaction;
3. finalise: mark the row delivered, rescheduled or dead, guarded by
   ``locked_until == <the lease this worker set>`` so that a worker whose lease ran out
   (and whose row was claimed again) cannot overwrite the newer holder's outcome.

A later claim's lease is always strictly later than an expired one (it is claimed after
the old lease passed), so the lease value identifies its holder.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import secrets
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import StatementError

from accord.delivery import handlers
from accord.delivery.domain import (
    DEAD,
    DELIVERED,
    MAIL_BACKOFF_CAP_S,
    PENDING,
    backoff_s,
    describe_error,
    is_final_attempt,
    is_mail_kind,
    mail_gives_up,
)
from accord.delivery.errors import UNKNOWN_KIND, PermanentFailure, UnknownKind
from accord.delivery.mail import Mailer, mailer_for
from accord.delivery.models import OutboxMessage
from accord.runtime import Runtime

log = logging.getLogger("accord.delivery")

_jitter_random = random.Random()  # noqa: S311 - retry jitter, not security


@dataclass(frozen=True)
class Claim:
    """A row this worker holds until ``lease`` (the value it wrote to locked_until)."""

    id: str
    kind: str
    org_id: str | None
    payload: dict[str, Any]
    attempts: int
    lease: datetime
    created_at: datetime
    failing_since: datetime | None = None


class Worker:
    """Delivers outbox rows. Many workers (threads or processes) may share one database."""

    def __init__(self, rt: Runtime, *, mailer: Mailer | None = None, name: str | None = None,
                 batch: int = 20, lease_s: float = 120.0, jitter: float = 0.1) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")

        self.rt = rt
        self.mailer: Mailer = mailer if mailer is not None else mailer_for(rt)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.batch = batch
        self.lease_s = lease_s
        self.jitter = jitter
        self.outcomes: Counter[str] = Counter()  # delivered / pending / dead / lost
        self._stop: threading.Event | None = None

    # -- one round ------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim up to ``batch`` due rows and process them; return how many were claimed.

        A row is only started while at least half of its lease remains (a slow mail
        server must not let the lease run out mid-send and invite a duplicate); the rest
        of the batch is released, as it is when the worker is asked to stop.
        """
        claims = self.claim()
        margin = timedelta(seconds=self.lease_s / 2)
        for i, claim in enumerate(claims):
            stopping = self._stop is not None and self._stop.is_set()
            if stopping or self.rt.now() + margin > claim.lease:
                self.release(claims[i:])
                break
            self.process(claim)
        return len(claims)

    def claim(self) -> list[Claim]:
        """Lease up to ``batch`` due rows to this worker, in one short transaction."""
        now = self.rt.now()
        lease = now + timedelta(seconds=self.lease_s)
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == PENDING,
                   OutboxMessage.next_attempt_at <= now,
                   or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(self.batch)
        )
        if self.rt.db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        with self.rt.db.uow() as uow:
            rows = uow.session.scalars(stmt).all()
            claims = []
            for row in rows:
                row.locked_until = lease
                claims.append(Claim(id=row.id, kind=row.kind, org_id=row.org_id,
                                    payload=copy.deepcopy(row.payload), attempts=row.attempts,
                                    lease=lease, created_at=row.created_at,
                                    failing_since=row.failing_since))
            uow.commit()
        if claims:
            log.debug("worker %s claimed %d rows", self.name, len(claims))
        return claims

    def process(self, claim: Claim) -> str:
        """Do the work of one claimed row outside any transaction, then record the outcome.

        Returns the row's new status, or "lost" when the lease had passed to another
        worker and the outcome was not recorded.
        """
        outcome = self._process(claim)
        self.outcomes[outcome] += 1
        return outcome

    def _process(self, claim: Claim) -> str:
        try:
            handler = handlers.get(claim.kind)
            email = handler(self.rt, claim.payload)
            if email is not None:
                self.mailer.send(email, message_id=claim.id, org_id=claim.org_id)
                self._delivered(claim)
        except PermanentFailure as exc:
            return self._failed(claim, exc, permanent=True)
        except Exception as exc:
            return self._failed(claim, exc, permanent=False)
        now = self.rt.now()
        if not self._finalise(claim, status=DELIVERED, delivered_at=now, locked_until=None,
                              failing_since=None):
            return "lost"
        log.info("outbox %s (%s) delivered by %s", claim.id, claim.kind, self.name)
        return DELIVERED

    def _delivered(self, claim: Claim) -> None:
        """Run the kind's delivered hook; its failure must not cause a second email."""
        hook = handlers.delivered_hook(claim.kind)
        if hook is None:
            return
        try:
            hook(self.rt, claim.payload)
        except Exception:  # the email went out; record the hook's failure and move on
            log.exception("delivered hook for %s failed (row %s)", claim.kind, claim.id)

    def release(self, claims: list[Claim]) -> None:
        """Give unprocessed claims back (on shutdown) so another worker can take them."""
        for claim in claims:
            self._finalise(claim, locked_until=None)

    # -- outcomes -------------------------------------------------------------------

    def _failed(self, claim: Claim, exc: BaseException, *, permanent: bool) -> str:
        """Reschedule or bury a failed row. Emails (``email``, ``email:*``) are retried
        with backoff capped at an hour until they have failed for 72 hours; a kind with
        its own schedule (webhooks) follows it; other work gives up after
        ``outbox_max_attempts``. A PermanentFailure goes dead at once."""
        now = self.rt.now()
        error = self._describe(exc)
        attempts = claim.attempts + 1
        failing_since = claim.failing_since or now
        schedule = handlers.retry_schedule(claim.kind)
        mail = schedule is None and is_mail_kind(claim.kind)
        if schedule:
            final = is_final_attempt(attempts, len(schedule))
        elif mail:
            final = mail_gives_up(failing_since, now)
        else:
            final = is_final_attempt(attempts, self.rt.settings.outbox_max_attempts)
        if permanent or final:
            if not self._finalise(claim, status=DEAD, attempts=attempts, last_error=error,
                                  next_attempt_at=now, locked_until=None,
                                  failing_since=failing_since):
                return "lost"
            log.error("outbox %s (%s) dead after %d attempt(s): %s",
                      claim.id, claim.kind, attempts, error)
            self._dead(claim, error=error, attempts=attempts, permanent=permanent)
            return DEAD
        if schedule:
            delay = schedule[attempts]
        else:
            delay = backoff_s(attempts, base_s=self.rt.settings.outbox_backoff_base_s,
                              jitter=self.jitter, rand=_jitter_random.random())
            if mail:
                delay = min(delay, MAIL_BACKOFF_CAP_S)
        if not self._finalise(claim, attempts=attempts, last_error=error, locked_until=None,
                              next_attempt_at=now + timedelta(seconds=delay),
                              failing_since=failing_since):
            return "lost"
        log.warning("outbox %s (%s) attempt %d failed, retry in %.1fs: %s",
                    claim.id, claim.kind, attempts, delay, error)
        log.debug("outbox %s failure detail", claim.id, exc_info=exc)
        return PENDING

    def _dead(self, claim: Claim, *, error: str, attempts: int, permanent: bool) -> None:
        """Run the kind's failed hook (tell the sender...); its failure leaves the row
        dead and listed for an admin to replay."""
        hook = handlers.failed_hook(claim.kind)
        if hook is None:
            return
        letter = handlers.DeadLetter(id=claim.id, kind=claim.kind, org_id=claim.org_id,
                                     payload=copy.deepcopy(claim.payload), error=error,
                                     attempts=attempts, permanent=permanent,
                                     created_at=claim.created_at)
        try:
            hook(self.rt, letter)
        except Exception:
            log.exception("failed hook for %s failed (row %s)", claim.kind, claim.id)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, UnknownKind):
            return UNKNOWN_KIND
        # SQLAlchemy errors print their bound parameters (bodies, links): keep the cause.
        if isinstance(exc, StatementError) and exc.orig is not None:
            exc = exc.orig
        s = self.rt.settings
        return describe_error(exc, secrets=[v for v in (s.smtp_password,) if v])

    def _finalise(self, claim: Claim, **values: Any) -> bool:
        """Apply ``values`` only if this worker still holds the row's lease."""
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id == claim.id,
                   OutboxMessage.status == PENDING,
                   OutboxMessage.locked_until == claim.lease)
            .values(**values)
        )
        with self.rt.db.uow() as uow:
            result = uow.session.connection().execute(stmt)
            uow.commit()
        if result.rowcount != 1:
            log.warning("outbox %s: %s lost its lease; outcome not recorded",
                        claim.id, self.name)
            return False
        return True

    # -- loops ----------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Poll every ``settings.worker_poll_s`` until ``stop`` is set; never dies."""
        self._stop = stop
        poll = max(self.rt.settings.worker_poll_s, 0.01)
        log.info("delivery worker %s started", self.name)
        try:
            while not stop.is_set():
                try:
                    claimed = self.run_once()
                except Exception as exc:
                    log.error("delivery worker %s: round failed, continuing: %s",
                              self.name, self._describe(exc))
                    log.debug("delivery worker %s failure detail", self.name, exc_info=exc)
                    claimed = 0
                if claimed < self.batch:  # a full batch means more may be waiting
                    stop.wait(poll)
        finally:
            self._stop = None
            log.info("delivery worker %s stopped", self.name)


def start_in_thread(rt: Runtime, *, mailer: Mailer | None = None
                    ) -> tuple[threading.Thread, threading.Event]:
    """Run a worker in a daemon thread (``accord serve``); set the event to stop it."""
    stop = threading.Event()
    worker = Worker(rt, mailer=mailer)
    thread = threading.Thread(target=worker.run_forever, args=(stop,),
                              name="accord-delivery", daemon=True)
    thread.start()
    return thread, stop


def drain(rt: Runtime, *, mailer: Mailer | None = None, max_rounds: int = 100) -> int:
    """Run rounds until nothing is due (or ``max_rounds``); return the rows processed."""
    worker = Worker(rt, mailer=mailer)
    total = 0
    for _ in range(max_rounds):
        claimed = worker.run_once()
        total += claimed
        if claimed == 0:
            break
    return total
