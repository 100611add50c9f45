"""Completion as a task: the last signature commits with the envelope ``completing`` and an
``envelope:complete`` outbox row; the worker stamps, certifies, seals and records it once,
whether it runs twice, fails and retries, meets a moved audit head, or is SIGKILLed while
sealing (a real ``accord worker`` process, then a second one after the lease)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accord.audit import services as audit
from accord.delivery.models import MailboxMessage, OutboxMessage
from accord.delivery.worker import drain
from accord.documents.seal import Sealer
from accord.documents.services import trust_roots
from accord.documents.verify import verify_pdf
from accord.envelopes import services as envelopes
from accord.envelopes.models import Envelope
from accord.runtime import Runtime
from accord.signing.completion import COMPLETE, complete
from tests.conftest import Clock
from tests.factories import Member, csrf, signing_link
from tests.signing.conftest import ANN, SIGNATURE, create, recipient

CARL = "carl@provider.example"


def _envelope(client: TestClient, sender: Member) -> dict[str, Any]:
    return create(client, sender, recipient(),
                  {"name": "Carl Copy", "email": CARL, "role": "cc", "routing_order": 2},
                  fields=[{"recipient": 0, **SIGNATURE}])


def _sign_last(rt: Runtime, client: TestClient, sender: Member) -> Any:
    """Ann signs (the only signer) without draining the outbox afterwards."""
    client.cookies.clear()
    page = client.get(signing_link(rt, sender.org_id, ANN))
    page = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"})
    done = client.post("/sign/finish", data={"csrf_token": csrf(page.text), "intent": "yes",
                                             "signature_kind": "typed",
                                             "signature_text": "Ann Signer"})
    assert done.status_code == 200 and 'id="done"' in done.text, done.text
    return done


def _facts(rt: Runtime, env_id: str) -> dict[str, Any]:
    with rt.db.uow() as uow:
        s = uow.session
        env = s.get(Envelope, env_id)
        assert env is not None
        tags = Counter(str(e["tag"]) for e in audit.events(s, env_id))
        copies = Counter(s.scalars(select(MailboxMessage.to_addr).where(
            MailboxMessage.subject.like("Completed:%"))))
        rows = [(o.status, o.payload) for o in s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == COMPLETE))]
        signed = [r.signature_blob is not None for r in envelopes.recipients_of(s, env_id)
                  if r.role == "signer"]
        return {"status": env.status, "sealed": env.sealed_blob,
                "count": audit.head(s, env_id).count,
                "completed_at": env.completed_at, "tags": tags, "copies": copies,
                "rows": rows, "signed": signed}


def _verified(rt: Runtime, client: TestClient, sender: Member, env_id: str) -> None:
    pdf = client.get(f"/api/v1/envelopes/{env_id}/document", headers=sender.auth)
    assert pdf.status_code == 200
    report = verify_pdf(pdf.content, trust_roots(rt))
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.envelope_id == env_id


def test_last_signature_queues_completion_and_the_worker_seals_once(
        rt: Runtime, client: TestClient, sender: Member) -> None:
    env = _envelope(client, sender)
    done = _sign_last(rt, client, sender)
    assert 'id="completing"' in done.text and "being sealed" in done.text

    # the signer's request returned without sealing
    view = client.get(f"/api/v1/envelopes/{env['id']}", headers=sender.auth).json()
    assert view["status"] == "completing" and view["sealed_sha256"] is None
    r = client.get(f"/api/v1/envelopes/{env['id']}/document", headers=sender.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_completed"
    r = client.get("/api/v1/envelopes?status=completing", headers=sender.auth)
    assert [e["id"] for e in r.json()["items"]] == [env["id"]]
    before = _facts(rt, env["id"])
    assert before["rows"] == [("pending", {"envelope_id": env["id"]})]
    assert before["sealed"] is None and before["signed"] == [True]
    assert before["tags"]["recipient:signed"] == 1 and not before["tags"]["envelope:completed"]

    drain(rt)
    after = _facts(rt, env["id"])
    assert after["status"] == "completed" and after["sealed"] is not None
    assert after["tags"]["envelope:completed"] == after["tags"]["document:sealed"] == 1
    assert after["copies"] == {ANN: 1, CARL: 1}
    assert after["rows"] == [("delivered", {"envelope_id": env["id"]})]
    _verified(rt, client, sender, env["id"])
    page = client.get("/sign")  # Ann's session: the done page now says it is sealed
    assert "Everyone has finished: the sealed document" in page.text

    # running the task again (a redelivered row) changes nothing and mails no one
    with rt.db.uow() as uow:
        count = audit.head(uow.session, env["id"]).count
    complete(rt, {"envelope_id": env["id"]})
    drain(rt)
    again = _facts(rt, env["id"])
    assert (again["sealed"], again["count"], again["copies"], again["completed_at"]) == (
        after["sealed"], count, after["copies"], after["completed_at"])


def test_a_failing_seal_keeps_the_signature_and_is_retried(
        rt: Runtime, client: TestClient, sender: Member, frozen: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Sealer, *_a: Any, **_k: Any) -> bytes:
        raise RuntimeError("timestamp authority unreachable")

    monkeypatch.setattr(Sealer, "seal", broken)
    env = _envelope(client, sender)
    _sign_last(rt, client, sender)
    drain(rt)
    failed = _facts(rt, env["id"])
    assert failed["status"] == "completing" and failed["sealed"] is None
    assert failed["signed"] == [True] and failed["tags"]["recipient:signed"] == 1
    assert not failed["tags"]["envelope:completed"] and not failed["copies"]
    with rt.db.uow() as uow:
        row = uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == COMPLETE)).one()
        assert row.status == "pending" and row.attempts == 1
        assert "timestamp authority unreachable" in (row.last_error or "")

    monkeypatch.undo()  # the authority is back; the retry is due after its backoff
    frozen.advance(seconds=11)
    drain(rt)
    fixed = _facts(rt, env["id"])
    assert fixed["status"] == "completed" and fixed["copies"] == {ANN: 1, CARL: 1}
    assert fixed["tags"]["envelope:completed"] == fixed["tags"]["document:sealed"] == 1
    _verified(rt, client, sender, env["id"])


def test_an_event_appended_while_sealing_makes_it_seal_again(
        rt: Runtime, client: TestClient, sender: Member,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sealed trail must end with the recorded envelope:completed event: if the head
    moves meanwhile, the work is redone (and sealing holds no transaction: this writer,
    on another connection, would otherwise wait for SQLite's write lock)."""
    original = Sealer.seal
    calls: list[int] = []

    def meddling(self: Sealer, *args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        if len(calls) == 1:
            with rt.db.uow() as uow:
                target = envelopes.lock(uow.session, env["id"])
                assert target is not None
                audit.record(uow.session, target, "recipient:delivered", actor="system",
                             now=rt.now(), data={"email": CARL, "channel": "local-mailbox"})
                uow.commit()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Sealer, "seal", meddling)
    env = _envelope(client, sender)
    _sign_last(rt, client, sender)
    drain(rt)
    assert len(calls) == 2
    facts = _facts(rt, env["id"])
    assert facts["status"] == "completed" and facts["copies"] == {ANN: 1, CARL: 1}
    assert facts["tags"]["envelope:completed"] == 1
    _verified(rt, client, sender, env["id"])


# -- a real worker process killed while sealing ---------------------------------------------

SLOW_WORKER = """
import sys, time, pathlib
from accord.documents import seal
marker = pathlib.Path(sys.argv[1])
original = seal.Sealer.seal
def slow(self, *args, **kwargs):
    if not marker.exists():  # the first worker hangs while sealing, until it is killed
        marker.write_text("sealing")
        time.sleep(300)
    return original(self, *args, **kwargs)
seal.Sealer.seal = slow
sys.argv = ["accord", "worker"]
from accord.cli import main
main()
"""


def test_worker_killed_while_sealing_completes_once_after_the_lease(
        rt: Runtime, client: TestClient, sender: Member, tmp_path: Path) -> None:
    env = _envelope(client, sender)
    _sign_last(rt, client, sender)
    marker = tmp_path / "sealing"
    environ = {**os.environ, "ACCORD_DATABASE_URL": rt.settings.sqlalchemy_url,
               "ACCORD_DATA_DIR": str(rt.settings.data_dir), "ACCORD_SEED_DEMO": "false",
               "ACCORD_WORKER_LEASE_S": "4", "ACCORD_WORKER_POLL_S": "0.1",
               "ACCORD_BASE_URL": "http://testserver"}
    environ.pop("ACCORD_MASTER_KEY", None)
    procs: list[subprocess.Popen[bytes]] = []

    def start(n: int) -> subprocess.Popen[bytes]:
        with (tmp_path / f"worker-{n}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", SLOW_WORKER, str(marker)],
                                    env=environ, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    def wait(what: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert procs[-1].poll() is None, (tmp_path / f"worker-{len(procs) - 1}.log"
                                              ).read_text()
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.1)

    try:
        first = start(0)
        wait(marker.exists, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert _facts(rt, env["id"])["status"] == "completing"
        start(1)

        def settled() -> bool:
            with rt.db.uow() as uow:
                pending = uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                             .where(OutboxMessage.status == "pending"))
            return _facts(rt, env["id"])["status"] == "completed" and not pending

        wait(settled, 30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    facts = _facts(rt, env["id"])
    assert facts["sealed"] is not None
    assert facts["tags"]["envelope:completed"] == facts["tags"]["document:sealed"] == 1
    assert facts["copies"] == {ANN: 1, CARL: 1}
    assert facts["rows"] == [("delivered", {"envelope_id": env["id"]})]
    _verified(rt, client, sender, env["id"])


def test_completion_tells_envelope_completed_once_in_its_transaction(
        rt: Runtime, client: TestClient, sender: Member, frozen: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Later features (contracts) learn of a completion through the ``envelope.completed``
    event, fired once, in the transaction that records it: a subscriber that fails makes
    the recording fail (and be retried), it cannot see a half-recorded completion."""
    from accord.signing.completion import ENVELOPE_COMPLETED

    told: list[tuple[str, str, str]] = []

    def subscriber(session: Session, *, envelope_id: str, org_id: str, now: object) -> None:
        env = envelopes.lock(session, envelope_id)
        assert env is not None and env.sealed_blob is not None  # the same transaction
        told.append((envelope_id, org_id, env.status))

    monkeypatch.setattr(ENVELOPE_COMPLETED, "_subscribers", [subscriber])
    env = _envelope(client, sender)
    _sign_last(rt, client, sender)
    assert told == []  # the signature alone tells nothing
    drain(rt)
    assert told == [(env["id"], sender.org_id, "completed")]
    complete(rt, {"envelope_id": env["id"]})  # a redelivered task tells no one again
    assert len(told) == 1

    def broken(session: Session, **kwargs: object) -> None:
        raise RuntimeError("subscriber down")

    monkeypatch.setattr(ENVELOPE_COMPLETED, "_subscribers", [broken])
    frozen.advance(minutes=1)  # so that the newest link mailed to Ann is the new one
    other = _envelope(client, sender)
    _sign_last(rt, client, sender)
    drain(rt)
    assert _facts(rt, other["id"])["status"] == "completing"  # not recorded; retried later
