"""Real `accord worker` processes over bulk batches: SIGKILL one mid-batch and restart it
(SQLite file and PostgreSQL), and two workers sharing one PostgreSQL (scale-out). Every
valid row ends with exactly one envelope and every signer with exactly one signing request
(outbox row and delivered email)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accord.bulk import services
from accord.bulk.models import BulkRow
from accord.delivery.models import MailboxMessage, OutboxMessage
from accord.envelopes.models import Envelope, Recipient
from accord.envelopes.services import SIGNING_REQUEST
from accord.runtime import Runtime
from tests.bulk.helpers import csv_rows, publish_notice
from tests.factories import member

WORKER = [sys.executable, "-c", "from accord.cli import main; main()", "worker"]


@pytest.fixture
def workers(rt: Runtime, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `accord worker` processes on the test's database and blob directory."""
    started: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "ACCORD_DATABASE_URL": rt.settings.sqlalchemy_url,
           "ACCORD_DATA_DIR": str(rt.settings.data_dir), "ACCORD_SEED_DEMO": "false",
           "ACCORD_WORKER_LEASE_S": "10", "ACCORD_WORKER_POLL_S": "0.1",
           "ACCORD_BASE_URL": "http://testserver"}
    env.pop("ACCORD_MASTER_KEY", None)

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / f"worker-{len(started)}.log").open("wb") as log:
            proc = subprocess.Popen(WORKER, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rows(rt: Runtime, batch_id: str) -> Counter[str]:
    with rt.db.uow() as uow:
        return Counter(dict(uow.session.execute(
            select(BulkRow.status, func.count()).where(BulkRow.batch_id == batch_id)
            .group_by(BulkRow.status)).all()))


def _wait(what: Callable[[], bool], timeout: float, procs: list[subprocess.Popen[bytes]]
          ) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert all(p.poll() is None for p in procs), "a worker died"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _settled(rt: Runtime) -> bool:
    with rt.db.uow() as uow:
        return not uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == "pending"))


def _exactly_once(rt: Runtime, org_id: str, batch_id: str, rows: int) -> None:
    with rt.db.uow() as uow:
        s = uow.session
        done = s.execute(select(BulkRow.status, BulkRow.envelope_id).where(
            BulkRow.batch_id == batch_id)).all()
        assert Counter(st for st, _ in done) == {"done": rows}
        env_ids = [e for _, e in done]
        assert len(set(env_ids)) == rows
        assert s.scalar(select(func.count()).select_from(Envelope).where(
            Envelope.org_id == org_id)) == rows
        signers = s.execute(select(Recipient.id, Recipient.email).where(
            Recipient.org_id == org_id, Recipient.role == "signer")).all()
        assert len(signers) == rows
        requests = Counter(str(m.payload["recipient_id"]) for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == SIGNING_REQUEST)))
        assert requests == dict.fromkeys((r.id for r in signers), 1)
        mails = Counter(s.scalars(select(MailboxMessage.to_addr).where(
            MailboxMessage.org_id == org_id, MailboxMessage.to_addr.like("signer%"))))
        assert mails == dict.fromkeys((r.email for r in signers), 1)


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(
        rt: Runtime, workers: Callable[[], subprocess.Popen[bytes]]) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    rows = 60
    batch = services.submit(rt, admin.principal, template_key="notice",
                            data=csv_rows(rows)).batch  # distinct rows: each is rendered
    first = workers()
    _wait(lambda: _rows(rt, batch.id)["done"] >= 8, 120, [first])
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert _rows(rt, batch.id)["pending"] > 0, "the batch finished before the kill"
    second = workers()
    _wait(lambda: services.get(rt, admin.principal, batch.id).status == "finished", 180,
          [second])
    _wait(lambda: _settled(rt), 120, [second])
    _exactly_once(rt, admin.org_id, batch.id, rows)


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_two_workers_process_each_envelope_once(
        rt: Runtime, workers: Callable[[], subprocess.Popen[bytes]]) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    rows = 1000
    batch = services.submit(rt, admin.principal, template_key="notice",
                            data=csv_rows(rows, distinct=False)).batch
    procs = [workers(), workers()]
    _wait(lambda: services.get(rt, admin.principal, batch.id).status == "finished", 400,
          procs)
    _wait(lambda: _settled(rt), 300, procs)
    _exactly_once(rt, admin.org_id, batch.id, rows)
