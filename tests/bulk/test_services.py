"""Bulk send services on SQLite and PostgreSQL: dry run, idempotent submit (also under
concurrency), the worker task, progress, results, scoping."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from sqlalchemy import func, select

from accord.bulk import services
from accord.bulk.models import BulkBatch, BulkRow
from accord.delivery.models import OutboxMessage
from accord.delivery.worker import drain
from accord.envelopes.models import Document, Envelope
from accord.errors import AccordError, InvalidInput, NotFound
from accord.runtime import Runtime
from tests.bulk.helpers import HEADER, csv_rows, publish_notice
from tests.factories import member


def _count(rt: Runtime, model: type, *where: object) -> int:
    with rt.db.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


def test_dry_run_reports_every_row_and_creates_nothing(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    data = (HEADER + "\n"
            "Acme,,Ann,ann@acme.example,Carl,carl@x.example\n"
            ",,Bob,bob@b.example,Carl,carl@x.example\n"           # missing required variable
            "Globex,,Gail,gail-at-globex,Carl,carl@x.example\n").encode()  # bad email
    report = services.dry_run(rt, admin.principal, template_key="notice", data=data)
    assert (report.total_rows, report.valid_rows, report.invalid_rows) == (3, 1, 2)
    got = {(p.row, p.column, p.code) for p in report.problems}
    assert got == {(2, "customer.legal_name", "variable_required"),
                   (3, "recipient.customer.email", "invalid_email")}
    assert _count(rt, BulkBatch) == 0 and _count(rt, BulkRow) == 0
    assert _count(rt, OutboxMessage) == 0


def test_file_problems_are_422_with_codes(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    for data, code in [(b"\xff\xfe\x00bad", "csv_not_utf8"), (b"", "csv_no_header"),
                       ((HEADER + ",colour\n").encode(), "csv_unknown_column"),
                       ((HEADER + ",note\n").encode(), "csv_duplicate_column")]:
        with pytest.raises(InvalidInput) as exc:
            services.submit(rt, admin.principal, template_key="notice", data=data)
        assert exc.value.code == code
    assert _count(rt, BulkBatch) == 0


def test_submit_twice_makes_one_batch(rt: Runtime) -> None:
    agent = member(rt, role="agent")
    admin = member(rt, role="admin", org_id=agent.org_id)
    publish_notice(rt, admin.principal)
    first = services.submit(rt, agent.principal, template_key="notice", data=csv_rows(5))
    again = services.submit(rt, agent.principal, template_key="notice", data=csv_rows(5))
    assert first.created and not again.created
    assert again.batch.id == first.batch.id
    keyed = services.submit(rt, agent.principal, template_key="notice", data=csv_rows(3),
                            idempotency_key="k-1")
    retry = services.submit(rt, agent.principal, template_key="notice", data=csv_rows(3),
                            idempotency_key="k-1")
    assert retry.batch.id == keyed.batch.id and not retry.created
    with pytest.raises(AccordError) as exc:
        services.submit(rt, agent.principal, template_key="notice", data=csv_rows(4),
                        idempotency_key="k-1")
    assert exc.value.code == "idempotency_key_reused"
    assert _count(rt, BulkBatch) == 2 and _count(rt, BulkRow) == 8
    assert _count(rt, OutboxMessage, OutboxMessage.kind == services.TASK) == 8  # 1 row each


def test_concurrent_submits_make_one_batch(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    data = csv_rows(300)
    ids: list[str] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            ids.append(services.submit(rt, admin.principal, template_key="notice",
                                       data=data).batch.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ids) == 4 and len(set(ids)) == 1
    assert _count(rt, BulkBatch) == 1 and _count(rt, BulkRow) == 300


def test_worker_sends_one_envelope_per_valid_row(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    data = csv_rows(6, distinct=False) + b"Bad,,Bob,bob-at-b,Carl,carl@x.example\n"
    out = services.submit(rt, admin.principal, template_key="notice", data=data,
                          subject="Please sign")
    assert (out.batch.total_rows, out.batch.invalid_rows, out.batch.pending_rows) == (7, 1, 6)
    drain(rt)
    drain(rt)  # running the chunks again changes nothing
    batch = services.get(rt, admin.principal, out.batch.id)
    assert batch.status == "finished" and batch.finished_at is not None
    assert (batch.done_rows, batch.failed_rows, batch.pending_rows) == (6, 0, 0)
    assert batch.percent == 100.0
    assert _count(rt, Envelope, Envelope.status == "sent") == 6
    # identical rows render one document, stored once
    with rt.db.uow() as uow:
        blobs = set(uow.session.scalars(select(Document.blob)))
    assert len(blobs) == 1
    name, text = services.results_csv(rt, admin.principal, out.batch.id)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert name.endswith("-results.csv") and len(rows) == 7
    assert [r["status"] for r in rows] == ["done"] * 6 + ["invalid"]
    assert all(r["envelope_id"] for r in rows[:6]) and rows[6]["error_code"] == "invalid_email"


def test_results_neutralise_formulas(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    data = (HEADER + "\n"
            "=cmd|' /C calc'!A0,+1,Ann,ann@a.example,Carl,carl@x.example\n"
            "-1,@SUM(A1:A2),Bob,bob@b.example,Carl,carl@x.example\n").encode()
    out = services.submit(rt, admin.principal, template_key="notice", data=data)
    _name, text = services.results_csv(rt, admin.principal, out.batch.id)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1][:2] == ["'=cmd|' /C calc'!A0", "'+1"]
    assert rows[2][:2] == ["'-1", "'@SUM(A1:A2)"]


def test_batches_are_the_senders_and_the_organisations(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    agent = member(rt, role="agent", org_id=admin.org_id)
    other = member(rt, role="agent", org_id=admin.org_id)
    stranger = member(rt, role="admin", org_name="Elsewhere")
    publish_notice(rt, admin.principal)
    batch = services.submit(rt, agent.principal, template_key="notice",
                            data=csv_rows(1)).batch
    assert services.get(rt, admin.principal, batch.id).id == batch.id
    assert [b.id for b in services.list_batches(rt, agent.principal)] == [batch.id]
    assert services.list_batches(rt, other.principal) == []
    for who in (other, stranger):
        with pytest.raises(NotFound):
            services.get(rt, who.principal, batch.id)
        with pytest.raises(NotFound):
            services.results_csv(rt, who.principal, batch.id)
    compliance = member(rt, role="compliance", org_id=admin.org_id)
    with pytest.raises(AccordError) as exc:
        services.submit(rt, compliance.principal, template_key="notice", data=csv_rows(1))
    assert exc.value.status == 403


def test_finishing_emits_one_webhook_event(rt: Runtime) -> None:
    from accord.bulk.tasks import process_rows
    from accord.webhooks import services as webhooks
    from accord.webhooks.models import WebhookMessage

    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    webhooks.create_endpoint(rt, admin.principal, url="https://hooks.example.com/accord",
                             event_types=["bulk_batch.finished"])
    batch = services.submit(rt, admin.principal, template_key="notice",
                            data=csv_rows(3, distinct=False)).batch
    with rt.db.uow() as uow:  # run the chunks here: the worker would post to the hook
        chunks = [dict(m.payload) for m in uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == services.TASK))]
    for payload in chunks + chunks:  # twice: still one event
        process_rows(rt, payload)
    with rt.db.uow() as uow:
        events = uow.session.scalars(select(WebhookMessage).where(
            WebhookMessage.event_type == "bulk_batch.finished")).all()
        assert len(events) == 1
        data = events[0].payload["data"]
    assert data["batch_id"] == batch.id and data["done_rows"] == 3
    assert services.get(rt, admin.principal, batch.id).status == "finished"


def test_routing_rules_of_the_template_apply_to_each_row(rt: Runtime) -> None:
    """The shipped agreement: a fee over 50,000 adds the legal approver (its default
    recipient); roles that rules add need no columns."""
    from accord.drafting.services import seed_examples
    from accord.envelopes.models import Recipient

    admin = member(rt, role="admin")
    seed_examples(rt, admin.org_id, publisher_user_id=admin.user_id)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["customer.legal_name", "customer.address", "customer.contact_name",
                     "customer.contact_email", "annual_fee", "effective_date", "end_date",
                     "covered_products", "recipient.customer.name",
                     "recipient.customer.email", "recipient.provider.name",
                     "recipient.provider.email", "recipient.account_manager.name",
                     "recipient.account_manager.email"])
    for name, fee in (("Small Co", "1200.00"), ("Big Co", "60000.00")):
        writer.writerow([name, "1 Main St", "Gail", "gail@x.example", fee, "2026-01-01",
                         "2027-01-01", '[{"product": "Desk", "seats": 5}]', "Gail",
                         f"gail@{name[:3].lower()}.example", "Pat", "pat@provider.example",
                         "Ann", "ann@provider.example"])
    batch = services.submit(rt, admin.principal, template_key="support-services-agreement",
                            data=buf.getvalue().encode()).batch
    assert batch.invalid_rows == 0
    drain(rt)
    assert services.get(rt, admin.principal, batch.id).done_rows == 2
    with rt.db.uow() as uow:
        emails = {e: set(uow.session.scalars(select(Recipient.email).where(
            Recipient.envelope_id == e)))
            for e in uow.session.scalars(select(BulkRow.envelope_id).order_by(
                BulkRow.row_number))}
    small, big = emails.values()
    assert "legal@brightline.example" not in small
    assert "legal@brightline.example" in big
