"""The renewal addendum: at the addendum window, drafted once from the organisation's
renewal template with the contract's data, linked to the contract, left as a draft for the
owner (confirm) or sent (auto); nothing without a published template."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from accord.contracts.models import ContractLink, ContractNotice
from accord.contracts.services import addenda
from accord.contracts.tasks import renewal_sweep
from accord.db import Database
from accord.drafting import services as drafting
from accord.envelopes.queries import get as get_envelope
from accord.runtime import Runtime, build_runtime
from tests.conftest import Clock
from tests.contracts.renewals_helpers import add_contract, contract, mails, organisation, utc
from tests.factories import Member, member

KEY = "renewal-addendum"
SOURCE = """# Renewal addendum

{{ contract.title }} with **{{ customer_name }}** is renewed until {{ new_end_date }}
(it ended on {{ end_date }}).

Customer signature: [[signature:customer]]

Provider signature: [[signature:provider]]
"""
VARIABLES: list[dict[str, Any]] = [
    {"name": "contract.title", "type": "text", "max_length": 300},
    {"name": "customer_name", "type": "text", "max_length": 200},
    {"name": "end_date", "type": "date"},
    {"name": "new_end_date", "type": "date"},
]
ROLES: list[dict[str, Any]] = [
    {"key": "customer", "name": "Customer", "type": "signer", "routing_order": 1},
    {"key": "provider", "name": "Provider", "type": "signer", "routing_order": 2},
]


def publish_renewal_template(rt: Runtime, boss: Member) -> None:
    drafting.create_template(rt, boss.principal, key=KEY, name="Renewal Addendum",
                             kind="markdown", source=SOURCE, variables=VARIABLES, roles=ROLES)
    drafting.submit_template(rt, boss.principal, KEY)
    drafting.publish_template(rt, boss.principal, KEY)


def _links(rt: Runtime, contract_id: str) -> list[ContractLink]:
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(select(ContractLink)
                                        .where(ContractLink.contract_id == contract_id)))
        for r in rows:
            uow.session.expunge(r)
        return rows


def _setup(rt: Runtime, clock: Clock, mode: str = "confirm") -> tuple[Member, str]:
    boss = organisation(rt, renewal_template=KEY, renewal_addendum_mode=mode,
                        renewal_windows=[10], time_zone="Europe/London")
    publish_renewal_template(rt, boss)
    cid = add_contract(rt, boss, end=date(2027, 3, 31), title="Premium support")
    clock.freeze(utc(2027, 1, 31, 0, 30))  # 59 days before the end, London time
    return boss, cid


def test_addendum_drafted_once_for_the_owner_to_confirm(rt: Runtime, clock: Clock) -> None:
    boss, cid = _setup(rt, clock)
    assert renewal_sweep(rt).addenda == 1
    assert renewal_sweep(rt).addenda == 0
    (link,) = _links(rt, cid)
    assert link.kind == "renewal_addendum"
    env = get_envelope(rt, boss.principal, link.envelope_id)
    assert env.status == "draft"
    assert env.subject == "Renewal addendum: Premium support"
    assert [(r.email, r.role) for r in env.recipients] == [
        ("dana@customer.example", "signer"), (boss.email, "signer")]
    assert contract(rt, cid).status == "active"  # the first window (10 days) is later
    assert [s for _, s in mails(rt, boss.org_id)] == [
        "Renewal addendum to review: Premium support"]


def test_addendum_sent_automatically(rt: Runtime, clock: Clock) -> None:
    boss, cid = _setup(rt, clock, mode="auto")
    assert renewal_sweep(rt).addenda == 1
    (link,) = _links(rt, cid)
    assert get_envelope(rt, boss.principal, link.envelope_id).status == "sent"
    subjects = {s for _, s in mails(rt, boss.org_id)}
    assert "Renewal addendum sent: Premium support" in subjects


def test_addendum_data_is_the_contract_s() -> None:
    from accord.contracts.models import Contract
    from accord.drafting.variables import parse_specs

    c = Contract(id="c1", title="Premium support", customer_name="Harbour Ltd",
                 end_date=date(2027, 3, 31), term_months=12, parties=[])
    data = addenda.contract_data(c, parse_specs(VARIABLES))
    assert data == {"contract.title": "Premium support", "customer_name": "Harbour Ltd",
                    "end_date": "2027-03-31", "new_end_date": "2028-03-31"}


def test_no_addendum_without_a_published_template(rt: Runtime, clock: Clock) -> None:
    boss = organisation(rt, renewal_template="nothing-here", renewal_windows=[10])
    cid = add_contract(rt, boss, end=date(2027, 3, 31))
    clock.freeze(utc(2027, 1, 31, 12))
    assert renewal_sweep(rt).addenda == 0  # logged; tried again next pass
    assert _links(rt, cid) == []
    with rt.db.uow() as uow:
        assert uow.session.scalars(select(ContractNotice)).all() == []


def test_no_addendum_for_an_owner_who_may_not_send(rt: Runtime, clock: Clock) -> None:
    boss, _ = _setup(rt, clock)
    auditor = member(rt, role="compliance", org_id=boss.org_id)
    cid = add_contract(rt, auditor, end=date(2027, 3, 31))
    renewal_sweep(rt)
    assert _links(rt, cid) == []


def test_two_workers_draft_one_addendum(rt: Runtime, clock: Clock,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _boss, cid = _setup(rt, clock)
    workers = []
    for _ in range(2):
        w = build_runtime(rt.settings, database=Database(rt.db.url))
        w.clock = clock
        workers.append(w)
    barrier = threading.Barrier(2)
    real = addenda._commit

    def in_step(w: Runtime, d: Any) -> bool:  # both rendered: commit at the same moment
        barrier.wait(timeout=60)
        return real(w, d)

    monkeypatch.setattr(addenda, "_commit", in_step)
    got: list[bool] = []
    threads = [threading.Thread(target=lambda w=w: got.append(addenda.draft_addendum(w, cid)))
               for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for w in workers:
        w.db.dispose()
    assert sorted(got) == [False, True]
    assert len(_links(rt, cid)) == 1
