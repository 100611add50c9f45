"""Filing: a completed envelope files one contract from its template's contract section;
bad data files what it can and flags the contract; amendments and renewal addenda add to
the contract's history, and a completed renewal addendum renews it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from accord.audit import services as audit
from accord.contracts import domain
from accord.contracts.models import Contract, ContractDocument, ContractTag
from accord.contracts.services import filing
from accord.drafting.contract import CONTRACT_FIELDS, CONTRACT_TYPES
from accord.errors import Conflict, NotFound
from accord.runtime import Runtime
from accord.webhooks.models import WebhookMessage
from tests.contracts.helpers import file_now, from_template, sample, seeded
from tests.factories import member


def _contracts(rt: Runtime) -> list[Contract]:
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(select(Contract)))
        uow.session.expunge_all()
        return rows


def _docs(rt: Runtime, contract_id: str) -> list[ContractDocument]:
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(select(ContractDocument).where(
            ContractDocument.contract_id == contract_id).order_by(ContractDocument.seq)))
        uow.session.expunge_all()
        return rows


def test_drafting_names_the_contract_fields_and_types_of_the_record() -> None:
    assert CONTRACT_FIELDS == domain.MAPPABLE_FIELDS
    assert tuple(t.value for t in domain.ContractType) == CONTRACT_TYPES


def test_a_template_envelope_files_its_mapped_fields_once(rt: Runtime) -> None:
    m = member(rt, role="manager")
    seeded(rt, m)
    env_id = from_template(rt, m)
    file_now(rt, env_id, m.org_id)
    file_now(rt, env_id, m.org_id)  # told twice: still one contract
    [c] = _contracts(rt)
    assert (c.type, c.status, c.source, c.envelope_id) == (
        "support_services", "active", "envelope", env_id)
    assert c.owner_id == m.user_id
    assert c.customer_name == "Harborview Health Partners, LLC"
    assert (c.effective_date, c.end_date) == (date(2026, 1, 1), date(2027, 12, 31))
    assert c.auto_renew is True and c.notice_days == 60
    assert c.opt_out_date == date(2027, 11, 1)
    assert (c.value, c.currency) == (Decimal("24000.00"), "USD")
    assert [p["role"] for p in c.parties] == ["customer", "provider"]
    assert c.flagged is False and c.flag_reason is None
    assert c.sla_terms is not None and "severities" in c.sla_terms
    assert "Harborview" in c.search_text
    [doc] = _docs(rt, c.id)
    assert (doc.seq, doc.kind, doc.envelope_id) == (1, "original", env_id)
    with rt.db.uow() as uow:
        tags = list(uow.session.scalars(select(ContractTag.tag)))
        trail = [e["tag"] for e in audit.events(uow.session, c.id)]
        ok, _ = audit.check_stored(uow.session, c)
    assert tags == ["premium"]
    assert trail == ["contract:filed"] and ok


def test_bad_data_files_what_it_can_and_flags(rt: Runtime) -> None:
    m = member(rt)
    seeded(rt, m)
    env_id = from_template(rt, m)
    with rt.db.uow() as uow:  # values the template checked, spoiled since
        from accord.drafting.models import TemplateContractValues

        row = uow.session.get(TemplateContractValues, env_id)
        assert row is not None
        row.values = {**row.values, "end_date": "not a date", "renewal_notice_days": -5,
                      "tier": 7, "auto_renew": {"odd": True}}
        uow.commit()
    file_now(rt, env_id, m.org_id)
    [c] = _contracts(rt)
    assert c.flagged is True
    assert c.flag_reason is not None and "end_date" in c.flag_reason
    assert "notice_days" in c.flag_reason
    assert "tags" in c.flag_reason and "auto_renew" in c.flag_reason
    assert c.customer_name == "Harborview Health Partners, LLC"  # what could be read
    assert c.end_date is None and c.notice_days is None


def test_a_plain_envelope_files_a_contract_with_its_parties(rt: Runtime) -> None:
    from tests.factories import sent_envelope

    m = member(rt)
    env = sent_envelope(rt, m, subject="Plain agreement")
    file_now(rt, env.id, m.org_id)
    [c] = _contracts(rt)
    assert (c.title, c.type, c.flagged) == ("Plain agreement", "support_services", False)
    assert {p["email"] for p in c.parties} == {"ann@customer.example", "bob@provider.example"}


def _filed(rt: Runtime) -> tuple[Any, Contract]:
    m = member(rt, role="manager")
    seeded(rt, m)
    env_id = from_template(rt, m)
    file_now(rt, env_id, m.org_id)
    return m, _contracts(rt)[0]


def test_a_completed_renewal_addendum_renews(rt: Runtime) -> None:
    m, c = _filed(rt)
    addendum = from_template(rt, m, data=sample(end_date="2029-12-31", annual_fee={
        "amount": "26000.00", "currency": "USD"}))
    with rt.db.uow() as uow:
        contract = uow.session.get(Contract, c.id)
        assert contract is not None
        filing.link_in(uow.session, contract, addendum, "renewal_addendum", rt.now())
        uow.commit()
    file_now(rt, addendum, m.org_id)
    [renewed] = _contracts(rt)
    assert renewed.status == "renewed" and renewed.end_date == date(2029, 12, 31)
    assert renewed.value == Decimal("26000.00")
    assert renewed.effective_date == date(2026, 1, 1)  # the original's
    docs = _docs(rt, c.id)
    assert [(d.seq, d.kind) for d in docs] == [(1, "original"), (2, "renewal_addendum")]
    assert docs[1].changes["end_date"] == "2029-12-31"
    with rt.db.uow() as uow:
        trail = [e["tag"] for e in audit.events(uow.session, c.id)]
    assert trail == ["contract:filed", "contract:linked", "contract:renewed"]


def test_an_addendum_that_does_not_move_the_end_flags_instead(rt: Runtime) -> None:
    m, c = _filed(rt)
    addendum = from_template(rt, m, data=sample(end_date="2027-06-30"))
    with rt.db.uow() as uow:
        contract = uow.session.get(Contract, c.id)
        assert contract is not None
        filing.link_in(uow.session, contract, addendum, "renewal_addendum", rt.now())
        uow.commit()
    file_now(rt, addendum, m.org_id)
    [kept] = _contracts(rt)
    assert kept.status == "active" and kept.end_date == date(2027, 12, 31)
    assert kept.flagged and "later" in (kept.flag_reason or "")
    assert len(_docs(rt, c.id)) == 2  # still in the history


def test_an_amendment_applies_its_changes(rt: Runtime) -> None:
    m, c = _filed(rt)
    amendment = from_template(rt, m, data=sample(renewal_notice_days=90))
    filing.link_envelope(rt, m.principal, c.id, envelope_id=amendment, kind="amendment")
    with pytest.raises(Conflict):
        filing.link_envelope(rt, m.principal, c.id, envelope_id=amendment, kind="amendment")
    file_now(rt, amendment, m.org_id)
    [changed] = _contracts(rt)
    assert changed.status == "active" and changed.notice_days == 90
    assert changed.opt_out_date == date(2027, 10, 2)
    assert [d.kind for d in _docs(rt, c.id)] == ["original", "amendment"]


def test_links_stay_in_their_organisation(rt: Runtime) -> None:
    m, c = _filed(rt)
    other = member(rt, role="admin", org_name="Other Org")
    seeded(rt, other)
    theirs = from_template(rt, other)
    with pytest.raises(NotFound):
        filing.link_envelope(rt, m.principal, c.id, envelope_id=theirs, kind="amendment")
    with pytest.raises(NotFound):
        filing.link_envelope(rt, other.principal, c.id, envelope_id=theirs, kind="amendment")


def test_filing_and_renewing_tell_webhooks(rt: Runtime) -> None:
    from accord.webhooks import services as webhooks

    m = member(rt, role="admin")
    seeded(rt, m)
    webhooks.create_endpoint(rt, m.principal, url="https://hooks.example.com/x",
                             event_types=["contract.filed"])
    webhooks.create_endpoint(rt, m.principal, url="https://hooks.example.com/y",
                             event_types=["contract.renewed"])
    env_id = from_template(rt, m)
    file_now(rt, env_id, m.org_id)
    [c] = _contracts(rt)
    addendum = from_template(rt, m, data=sample(end_date="2028-12-31"))
    filing.link_envelope(rt, m.principal, c.id, envelope_id=addendum,
                         kind="renewal_addendum")
    file_now(rt, addendum, m.org_id)
    with rt.db.uow() as uow:
        sent = {(w.event_type, w.payload["data"]["contract_id"],
                 w.payload["data"].get("end_date"))
                for w in uow.session.scalars(select(WebhookMessage))}
    assert sent == {("contract.filed", c.id, None), ("contract.renewed", c.id, "2028-12-31")}


def test_a_signed_envelope_files_one_contract_even_when_completion_runs_twice(
        rt: Runtime) -> None:
    """Through the ceremony: the completion task's ``envelope.completed`` files it."""
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from accord.app import create_app
    from accord.signing.completion import complete
    from tests.factories import sent_envelope, sign, signing_link

    rt.clock.freeze(datetime.now(UTC).replace(second=0, microsecond=0))  # type: ignore[attr-defined]
    m = member(rt)
    env = sent_envelope(rt, m, subject="Signed agreement")
    client = TestClient(create_app(rt), base_url="http://testserver")
    sign(client, signing_link(rt, m.org_id, "ann@customer.example"), name="Ann")
    sign(client, signing_link(rt, m.org_id, "bob@provider.example"), name="Bob")
    complete(rt, {"envelope_id": env.id})  # a redelivered completion task
    [c] = _contracts(rt)
    assert (c.envelope_id, c.title, c.owner_id) == (env.id, "Signed agreement", m.user_id)
    [doc] = _docs(rt, c.id)
    with rt.db.uow() as uow:
        from accord.envelopes.models import Envelope

        sealed = uow.session.get(Envelope, env.id)
        assert sealed is not None and sealed.status == "completed"
        assert doc.blob == sealed.sealed_blob and doc.sha256 == sealed.sealed_sha256
        assert doc.size == len(rt.blobs.get(doc.blob))
    assert "Terms and conditions" in c.search_text  # the contract:index task read the PDF


def test_bulk_sent_envelopes_carry_their_contract_fields(rt: Runtime) -> None:
    from accord.bulk import services as bulk
    from accord.delivery.worker import drain
    from accord.drafting import services as drafting
    from accord.drafting.models import TemplateContractValues
    from tests.bulk.helpers import ROLES, SOURCE, VARIABLES, csv_rows

    admin = member(rt, role="admin")
    drafting.create_template(rt, admin.principal, key="notice", name="Service Notice",
                             kind="markdown", source=SOURCE, variables=VARIABLES,
                             roles=ROLES, contract={"type": "consent", "fields": {
                                 "customer_name": "customer.legal_name", "value": "fee"}})
    drafting.submit_template(rt, admin.principal, "notice")
    drafting.publish_template(rt, admin.principal, "notice")
    bulk.submit(rt, admin.principal, template_key="notice", data=csv_rows(2))
    drain(rt)
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(select(TemplateContractValues)))
        envelope_ids = [r.envelope_id for r in rows]
        assert sorted(r.values["customer.legal_name"] for r in rows) == [
            "Customer 0", "Customer 1"]
    for env_id in envelope_ids:
        file_now(rt, env_id, admin.org_id)
    got = sorted((c.type, c.customer_name, c.value) for c in _contracts(rt))
    assert got == [("consent", "Customer 0", Decimal("10.00")),
                   ("consent", "Customer 1", Decimal("10.00"))]
