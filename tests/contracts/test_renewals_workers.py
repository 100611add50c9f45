"""Exactly once with several workers: two workers (each its own engine, like two
``accord worker`` processes) run the renewal sweep at the same moment over many
contracts; every notice goes out once. Also with the row lock taken away, the unique key
alone keeps it so."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.contracts.models import Contract, ContractNotice
from accord.contracts.services import renewals
from accord.contracts.tasks import renewal_sweep
from accord.db import Database
from accord.delivery.models import OutboxMessage
from accord.runtime import Runtime, build_runtime
from tests.conftest import Clock
from tests.contracts.renewals_helpers import add_contract, organisation, utc

CONTRACTS = 40


def _workers(rt: Runtime, clock: Clock, n: int = 2) -> list[Runtime]:
    out = []
    for _ in range(n):
        worker = build_runtime(rt.settings, database=Database(rt.db.url))
        worker.clock = clock
        out.append(worker)
    return out


def _race(workers: list[Runtime], passes: int = 3) -> list[renewals.SweepResult]:
    barrier = threading.Barrier(len(workers))
    results: list[renewals.SweepResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(worker: Runtime) -> None:
        try:
            for _ in range(passes):
                barrier.wait(timeout=60)
                got = renewal_sweep(worker)
                with lock:
                    results.append(got)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return results


def _emails_per_contract(rt: Runtime, ids: list[str]) -> Counter[str]:
    with rt.db.uow() as uow:
        bodies = uow.session.scalars(select(OutboxMessage.payload)
                                     .where(OutboxMessage.kind == "email")).all()
    seen: Counter[str] = Counter()
    for payload in bodies:
        for cid in ids:
            if f"/console/contracts/{cid}" in str(payload.get("body", "")):
                seen[cid] += 1
    return seen


def _setup(rt: Runtime, clock: Clock) -> tuple[Any, list[str]]:
    boss = organisation(rt, time_zone="Europe/Berlin")
    today = date(2026, 12, 1)
    ids = [add_contract(rt, boss, end=today + timedelta(days=100 + i % 20),
                        title=f"Contract {i}") for i in range(CONTRACTS)]
    clock.freeze(utc(2026, 12, 1, 9))  # each contract: its 120-day window passed
    return boss, ids


def _check_once(rt: Runtime, ids: list[str], results: list[renewals.SweepResult]) -> None:
    assert sum(r.notices for r in results) == CONTRACTS
    assert sum(r.renewal_due for r in results) == CONTRACTS
    assert _emails_per_contract(rt, ids) == Counter(dict.fromkeys(ids, 1))
    with rt.db.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(ContractNotice)) == CONTRACTS
        statuses = set(s.scalars(select(Contract.status)))
    assert statuses == {"renewal_due"}


def test_two_workers_send_each_notice_once(rt: Runtime, clock: Clock,
                                           caplog: pytest.LogCaptureFixture) -> None:
    _boss, ids = _setup(rt, clock)
    workers = _workers(rt, clock)
    try:
        results = _race(workers)
    finally:
        for w in workers:
            w.db.dispose()
    _check_once(rt, ids, results)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_the_unique_key_alone_keeps_it_once(rt: Runtime, clock: Clock,
                                            monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Without the row lock both workers may prepare the same notice: the second insert
    collides with the first's, and its whole transaction (email included) rolls back."""
    _boss, ids = _setup(rt, clock)

    def no_lock(_rt: Runtime, session: Any, contract_id: str) -> Contract | None:
        return session.scalar(select(Contract).where(Contract.id == contract_id)
                              .execution_options(populate_existing=True))

    monkeypatch.setattr(renewals, "lock_or_skip", no_lock)
    workers = _workers(rt, clock)
    try:
        results = _race(workers)
    finally:
        for w in workers:
            w.db.dispose()
    _check_once(rt, ids, results)
    # a collision is an expected outcome, handled where it happens: nothing failed
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
