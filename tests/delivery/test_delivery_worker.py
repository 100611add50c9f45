"""The worker: retries with backoff, dead letters, leases, loops and concurrent workers."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accord.delivery import services
from accord.delivery.domain import DEAD, DELIVERED, PENDING
from accord.delivery.errors import PermanentFailure
from accord.delivery.mail import Email
from accord.delivery.models import OutboxMessage
from accord.delivery.worker import Claim, Worker, drain, start_in_thread
from accord.runtime import Runtime

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
Register = Callable[[str, Any], None]
Row = Callable[[str], OutboxMessage]


class FakeMailer:
    """Records what would have been sent; fails while ``fail`` is set."""

    def __init__(self) -> None:
        self.sent: list[tuple[Email, str, str | None]] = []
        self.fail: Exception | None = None

    def send(self, email: Email, *, message_id: str, org_id: str | None) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((email, message_id, org_id))


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the worker")
        time.sleep(0.01)


def test_failing_handler_backs_off_exponentially_then_dies_and_can_be_revived(
        rt: Runtime, clock: Any, org_id: str, register: Register,
        enqueue: Callable[..., str], outbox_row: Row) -> None:
    rt.settings = rt.settings.model_copy(update={"outbox_max_attempts": 4,
                                                 "outbox_backoff_base_s": 2.0})
    clock.freeze(T0)
    calls: list[datetime] = []
    failing = [True]

    def flaky(rt: Runtime, payload: dict[str, Any]) -> None:
        calls.append(rt.now())
        if failing[0]:
            raise ConnectionError("upstream down, see https://sign.example/s/t0ken")

    register("test:flaky", flaky)
    message_id = enqueue("test:flaky", {"n": 1}, org_id=org_id)
    worker = Worker(rt, mailer=FakeMailer(), jitter=0.0)

    assert worker.run_once() == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts, row.locked_until) == (PENDING, 1, None)
    assert row.next_attempt_at == T0 + timedelta(seconds=2)
    assert row.last_error == "ConnectionError: upstream down, see <url>"

    for attempt, wait in ((2, 2.0), (3, 4.0)):
        clock.advance(seconds=wait - 0.5)
        assert worker.run_once() == 0  # not yet due
        clock.advance(seconds=0.5)
        assert worker.run_once() == 1
        row = outbox_row(message_id)
        assert (row.status, row.attempts) == (PENDING, attempt)
        assert row.next_attempt_at == clock() + timedelta(seconds=2.0 * 2 ** (attempt - 1))

    clock.advance(seconds=8)
    assert worker.run_once() == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts) == (DEAD, 4)
    clock.advance(seconds=3600)
    assert worker.run_once() == 0
    assert len(calls) == 4
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(calls)] == [
        2.0, 4.0, 8.0]

    services.retry_dead(rt, org_id, message_id)
    failing[0] = False
    assert worker.run_once() == 1
    row = outbox_row(message_id)
    assert (row.status, row.delivered_at) == (DELIVERED, clock())


def test_backoff_jitter_only_stretches_the_delay(
        rt: Runtime, clock: Any, register: Register, enqueue: Callable[..., str],
        outbox_row: Row) -> None:
    clock.freeze(T0)

    def boom(_rt: Runtime, _payload: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    register("test:boom", boom)
    message_id = enqueue("test:boom")
    Worker(rt, jitter=0.5).run_once()
    delay = (outbox_row(message_id).next_attempt_at - T0).total_seconds()
    assert 2.0 <= delay <= 3.0


def test_permanent_failure_goes_dead_at_once(
        rt: Runtime, register: Register, enqueue: Callable[..., str], outbox_row: Row) -> None:
    calls = []

    def refuse(_rt: Runtime, payload: dict[str, Any]) -> None:
        calls.append(payload)
        raise PermanentFailure("recipient was deleted")

    register("test:refuse", refuse)
    message_id = enqueue("test:refuse", {"recipient": "r-1"})
    assert drain(rt) == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts, row.last_error) == (
        DEAD, 1, "PermanentFailure: recipient was deleted")
    assert drain(rt) == 0
    assert calls == [{"recipient": "r-1"}]


def test_unknown_kind_goes_dead(rt: Runtime, enqueue: Callable[..., str],
                                outbox_row: Row) -> None:
    message_id = enqueue("test:nobody-handles-this")
    assert drain(rt) == 1
    row = outbox_row(message_id)
    assert (row.status, row.attempts, row.last_error) == (DEAD, 1, "unknown kind")


def test_background_task_returning_none_sends_nothing(
        rt: Runtime, register: Register, enqueue: Callable[..., str], outbox_row: Row,
        mailbox_count: Callable[[], int]) -> None:
    seen: list[dict[str, Any]] = []
    register("test:task", lambda _rt, payload: seen.append(payload))
    message_id = enqueue("test:task", {"envelope_id": "e-1"})
    assert drain(rt) == 1
    assert seen == [{"envelope_id": "e-1"}]
    assert outbox_row(message_id).status == DELIVERED
    assert mailbox_count() == 0


def test_handler_email_goes_to_the_mailer_with_the_outbox_id(
        rt: Runtime, clock: Any, org_id: str, register: Register,
        enqueue: Callable[..., str], outbox_row: Row) -> None:
    def signing_request(_rt: Runtime, payload: dict[str, Any]) -> Email:
        return Email(to=(payload["to"],), subject="Please sign", body="link")

    register("test:signing_request", signing_request)
    message_id = enqueue("test:signing_request", {"to": "ann@example.com"}, org_id=org_id)
    mailer = FakeMailer()
    mailer.fail = OSError("connection refused")
    worker = Worker(rt, mailer=mailer, jitter=0.0)
    assert worker.run_once() == 1
    assert outbox_row(message_id).last_error == "OSError: connection refused"
    assert outbox_row(message_id).status == PENDING

    mailer.fail = None
    clock.advance(seconds=rt.settings.outbox_backoff_base_s)
    assert worker.run_once() == 1
    [(email, sent_id, sent_org)] = mailer.sent
    assert (email.to, sent_id, sent_org) == (("ann@example.com",), message_id, org_id)
    assert outbox_row(message_id).status == DELIVERED


def test_a_crashed_workers_lease_expires_and_the_row_is_redelivered(
        rt: Runtime, clock: Any, enqueue: Callable[..., str], outbox_row: Row,
        mailbox_count: Callable[[], int]) -> None:
    clock.freeze(T0)
    payload = Email(to=("ann@example.com",), subject="s", body="b").to_payload()
    message_id = enqueue("email", payload)
    crashed = Worker(rt, name="crashed", lease_s=60)
    [claim] = crashed.claim()  # ... and never finalised
    assert outbox_row(message_id).locked_until == T0 + timedelta(seconds=60)

    other = Worker(rt, name="other", lease_s=60)
    assert other.run_once() == 0  # leased
    clock.advance(seconds=60)
    assert other.run_once() == 0  # lease ends strictly after locked_until
    clock.advance(seconds=1)
    assert other.run_once() == 1
    row = outbox_row(message_id)
    assert (row.status, row.delivered_at) == (DELIVERED, T0 + timedelta(seconds=61))

    # The crashed worker wakes up and finishes: its stale lease must not win.
    clock.advance(seconds=5)
    assert crashed.process(claim) == "lost"
    assert (crashed.outcomes["lost"], other.outcomes[DELIVERED]) == (1, 1)
    row = outbox_row(message_id)
    assert (row.status, row.delivered_at) == (DELIVERED, T0 + timedelta(seconds=61))
    assert mailbox_count() == 1  # the mailbox ignored the second send


def test_a_stale_worker_cannot_overwrite_the_new_holders_lease(
        rt: Runtime, clock: Any, register: Register, enqueue: Callable[..., str],
        outbox_row: Row) -> None:
    clock.freeze(T0)

    def boom(_rt: Runtime, _payload: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    register("test:boom", boom)
    message_id = enqueue("test:boom")
    slow = Worker(rt, name="slow", lease_s=10)
    [stale] = slow.claim()
    clock.advance(seconds=11)
    [fresh] = Worker(rt, name="fresh", lease_s=10).claim()
    assert fresh.lease > stale.lease
    assert slow.process(stale) == "lost"
    row = outbox_row(message_id)
    assert (row.attempts, row.locked_until, row.last_error) == (0, fresh.lease, None)


def test_run_forever_survives_errors_and_stops_promptly(
        rt: Runtime, enqueue: Callable[..., str], outbox_row: Row,
        caplog: pytest.LogCaptureFixture) -> None:
    rt.settings = rt.settings.model_copy(update={"worker_poll_s": 0.01})

    class Unlucky(Worker):
        failures = 2

        def claim(self) -> list[Claim]:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("database went away")
            return super().claim()

    payload = Email(to=("ann@example.com",), subject="s", body="b").to_payload()
    message_id = enqueue("email", payload)
    stop = threading.Event()
    worker = Unlucky(rt, name="unlucky")
    with caplog.at_level(logging.INFO, logger="accord.delivery"):
        thread = threading.Thread(target=worker.run_forever, args=(stop,))
        thread.start()
        try:
            _wait_for(lambda: outbox_row(message_id).status == DELIVERED)
        finally:
            stop.set()
            thread.join(timeout=2)
    assert not thread.is_alive()
    assert "round failed, continuing: RuntimeError: database went away" in caplog.text
    assert "ann@example.com" not in caplog.text  # no addresses or bodies in the log


def test_stopping_mid_batch_releases_the_unprocessed_claims(
        rt: Runtime, register: Register, enqueue: Callable[..., str], outbox_row: Row) -> None:
    stop = threading.Event()
    handled: list[int] = []

    def stop_after_one(_rt: Runtime, payload: dict[str, Any]) -> None:
        handled.append(payload["n"])
        stop.set()

    register("test:stopper", stop_after_one)
    ids = [enqueue("test:stopper", {"n": n}) for n in range(3)]
    Worker(rt, batch=10).run_forever(stop)
    rows = [outbox_row(i) for i in ids]
    assert len(handled) == 1
    assert sorted(r.status for r in rows) == [DELIVERED, PENDING, PENDING]
    assert all(r.locked_until is None and r.attempts == 0 for r in rows)
    assert drain(rt) == 2  # the released rows are due again at once


def test_a_slow_batch_releases_rows_whose_lease_is_running_out(
        rt: Runtime, clock: Any, register: Register, enqueue: Callable[..., str],
        outbox_row: Row) -> None:
    clock.freeze(T0)
    handled: list[int] = []

    def slow(_rt: Runtime, payload: dict[str, Any]) -> None:
        handled.append(payload["n"])
        clock.advance(seconds=31)  # more than half of the 60 s lease

    register("test:slow", slow)
    ids = [enqueue("test:slow", {"n": n}) for n in range(3)]
    assert Worker(rt, lease_s=60).run_once() == 3
    assert len(handled) == 1
    rows = [outbox_row(i) for i in ids]
    assert sorted(r.status for r in rows) == [DELIVERED, PENDING, PENDING]
    assert all(r.locked_until is None for r in rows)


def test_start_in_thread_delivers_and_stops(rt: Runtime, enqueue: Callable[..., str],
                                            outbox_row: Row) -> None:
    rt.settings = rt.settings.model_copy(update={"worker_poll_s": 0.01})
    thread, stop = start_in_thread(rt)
    try:
        assert thread.daemon
        payload = Email(to=("ann@example.com",), subject="s", body="b").to_payload()
        message_id = enqueue("email", payload)
        _wait_for(lambda: outbox_row(message_id).status == DELIVERED)
    finally:
        stop.set()
        thread.join(timeout=2)
    assert not thread.is_alive()


def _run_two_workers(rt: Runtime, register: Register, rows: int) -> None:
    """Two workers in two threads drain ``rows`` messages: each exactly once, by one."""
    records: list[tuple[str, str, float, float]] = []
    lock = threading.Lock()

    def record(_rt: Runtime, payload: dict[str, Any]) -> None:
        start = time.monotonic()
        time.sleep(0.001)
        with lock:
            records.append((payload["id"], threading.current_thread().name, start,
                            time.monotonic()))

    register("test:record", record)
    with rt.db.uow() as uow:
        for n in range(rows):
            services.enqueue(uow.session, kind="test:record", payload={"id": f"row-{n}"},
                             now=rt.now())
        uow.commit()

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(worker: Worker) -> None:
        try:
            barrier.wait(timeout=5)
            while worker.run_once():
                pass
        except BaseException as exc:
            errors.append(exc)

    workers = [Worker(rt, name=f"w{i}", batch=10, mailer=None) for i in (1, 2)]
    threads = [threading.Thread(target=work, args=(w,), name=w.name) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert not any(t.is_alive() for t in threads)

    handled_by: dict[str, set[str]] = {}
    for row_id, worker_name, start, end in records:
        assert start <= end
        handled_by.setdefault(row_id, set()).add(worker_name)
    assert len(records) == rows  # nothing handled twice ...
    assert len(handled_by) == rows  # ... and nothing missed
    assert all(len(names) == 1 for names in handled_by.values())
    per_worker = {w.name: sum(1 for r in records if r[1] == w.name) for w in workers}
    assert all(count > 0 for count in per_worker.values()), per_worker
    with rt.db.uow() as uow:
        statuses = uow.session.scalars(select(OutboxMessage.status)).all()
    assert statuses == [DELIVERED] * rows


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_two_workers_on_postgres_skip_locked_rows(rt: Runtime, register: Register) -> None:
    assert rt.db.is_postgres  # FOR UPDATE SKIP LOCKED is PostgreSQL's
    _run_two_workers(rt, register, rows=200)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_two_workers_on_sqlite_are_serialised(rt: Runtime, register: Register) -> None:
    assert not rt.db.is_postgres
    _run_two_workers(rt, register, rows=100)
