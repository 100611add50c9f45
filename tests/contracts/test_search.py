"""Repository search through its service, on both databases: every filter, full text,
sorts with cursor pages (ties, nulls), cursors that were altered or belong elsewhere,
organisation isolation, the index following changes, and the neutralised CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import delete, select

from accord.contracts.models import Contract, ContractSearch, ContractTag
from accord.contracts.search.index import rebuild
from accord.contracts.services import search
from accord.contracts.services.search import Filters
from accord.errors import Forbidden, InvalidInput
from accord.runtime import Runtime
from tests.contracts.search_helpers import add_contract
from tests.factories import Member, member


def found(rt: Runtime, m: Member, **kw: object) -> list[str]:
    return search.ids(rt, m.principal, Filters.model_validate(kw))


@pytest.fixture
def org(rt: Runtime) -> tuple[Member, dict[str, str]]:
    m = member(rt, role="agent")
    other = member(rt, role="manager", org_id=m.org_id)
    ids = {
        "gold": add_contract(rt, m.org_id, title="Gold support for Acme", n=1,
                             text="Service level agreement. Credits apply per breach.",
                             tags=("gold", "emea"), end_date=date(2026, 6, 30),
                             value="12000.00", customer="acct-acme", customer_name="Acme",
                             owner_id=m.user_id),
        "nda": add_contract(rt, m.org_id, title="NDA with Initech", type="nda", n=2,
                            text="Confidential information stays confidential.",
                            tags=("emea",), end_date=date(2027, 1, 31), value="0",
                            customer="acct-initech", owner_id=other.user_id),
        "maint": add_contract(rt, m.org_id, title="Maintenance Globex", type="maintenance",
                              status="renewal_due", n=3, text="Maintenance window sundays",
                              end_date=None, value=None, currency=None,
                              customer_name="Globex Corporation"),
        "sla": add_contract(rt, m.org_id, title="SLA amendment Acme", type="sla_amendment",
                            status="expired", n=4, text="Service credits capped at 10%",
                            tags=("gold",), end_date=date(2026, 6, 30), value="500.5",
                            currency="USD", customer="acct-acme"),
    }
    return m, ids


def test_filters(rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    m, ids = org
    by = {v: k for k, v in ids.items()}

    def names(**kw: object) -> list[str]:
        return [by[i] for i in found(rt, m, **kw)]

    assert names() == ["sla", "maint", "nda", "gold"]  # newest first
    assert names(type=["nda", "maintenance"]) == ["maint", "nda"]
    assert names(status=["expired", "renewal_due"]) == ["sla", "maint"]
    assert names(owner=["me"]) == ["gold"]
    assert names(customer="acct-acme") == ["sla", "gold"]
    assert names(tag=["gold"]) == ["sla", "gold"]
    assert names(tag=["gold", "emea"]) == ["gold"]
    assert names(end_from="2026-06-30", end_to="2026-12-31") == ["sla", "gold"]
    assert names(end_from="2026-07-01") == ["nda"]
    assert names(value_min="500.50", value_max="12000") == ["sla", "gold"]
    assert names(value_max="0") == ["nda"]
    assert names(currency="usd") == ["sla"]
    assert names(tag=["gold"], type=["support_services"], q="credits") == ["gold"]


def test_full_text(rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    m, ids = org
    by = {v: k for k, v in ids.items()}

    def names(q: str) -> set[str]:
        return {by[i] for i in found(rt, m, q=q)}

    assert names("credits") == {"gold", "sla"}
    assert names("CREDITS service") == {"gold", "sla"}
    assert names('"service level"') == {"gold"}
    assert names('"level service"') == set()
    assert names("confidential OR sundays") == {"nda", "maint"}
    assert names("credits -gold") == set()  # tags are searched too
    assert names("-acme") == {"nda", "maint"}  # title and customer name
    assert names("globex corporation") == {"maint"}
    assert names("acct") == {"gold", "nda", "sla"}  # customer account ids' words
    assert names("initech") == {"nda"}
    assert names("unheard") == set()
    assert names("!!!") == {"gold", "nda", "maint", "sla"}  # no words: no text filter
    assert names('"; DROP TABLE contracts; --') == set()
    assert names("NEAR(credits service) AND NOT x*") == set()


@pytest.mark.parametrize("sort", ["end_date", "value", "created_at", "title"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_walk_every_row_once_in_order(rt: Runtime, sort: str, order: str) -> None:
    m = member(rt)
    for i in range(23):  # ties on every sort key, and nulls
        add_contract(rt, m.org_id, title=["Beta", "alpha", "Gamma"][i % 3], n=i % 4,
                     end_date=None if i % 5 == 0 else date(2026, 1 + i % 3, 1),
                     value=None if i % 4 == 0 else str(100 * (i % 3)))
    filters = Filters.model_validate({"sort": sort, "order": order})
    everything = search.ids(rt, m.principal, filters)
    assert len(everything) == 23
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = search.search(rt, m.principal, filters, limit=5, cursor=cursor)
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == everything
    rows = search.search(rt, m.principal, filters, limit=200).items
    keys = [getattr(r, sort) for r in rows]
    present = [k for k in keys if k is not None]
    assert keys[:len(present)] == present  # nulls last, both ways
    if sort == "value":
        present = [float(k) for k in present]
    assert present == sorted(present, reverse=order == "desc")


def test_cursors_are_checked(rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    m, _ = org
    page = search.search(rt, m.principal, Filters(), limit=1)
    cursor = page.next_cursor
    assert cursor
    body, sig = cursor.split(".")
    for bad in (cursor + "x", body + "." + sig[::-1], "x" * 700, "", "a.b.c",
                body[:-2] + "AA." + sig):
        if not bad:
            continue
        with pytest.raises(InvalidInput) as exc:
            search.search(rt, m.principal, Filters(), limit=1, cursor=bad)
        assert exc.value.code == "invalid_cursor"
    with pytest.raises(InvalidInput) as exc:  # same signature, other filters
        search.search(rt, m.principal, Filters(q="credits"), limit=1, cursor=cursor)
    assert exc.value.code == "cursor_mismatch"
    stranger = member(rt, org_name="Stranger")
    with pytest.raises(InvalidInput) as exc:
        search.search(rt, stranger.principal, Filters(), limit=1, cursor=cursor)
    assert exc.value.code == "cursor_mismatch"


def test_organisations_are_isolated(rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    m, _ = org
    stranger = member(rt, role="admin", org_name="Stranger")
    mine = add_contract(rt, stranger.org_id, title="Gold support", text="credits",
                        tags=("gold",), customer="acct-acme")
    assert found(rt, stranger) == [mine]
    assert found(rt, stranger, q="credits") == [mine]
    assert found(rt, stranger, tag=["emea"]) == []
    assert found(rt, stranger, customer="acct-acme") == [mine]
    assert mine not in found(rt, m, q="credits")


def test_limits_and_permission(rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    m, _ = org
    with pytest.raises(InvalidInput):
        search.search(rt, m.principal, Filters(), limit=201)
    with pytest.raises(InvalidInput) as exc:
        search.search(rt, m.principal, Filters(q=" ".join(["w"] * 17)))
    assert exc.value.code == "query_too_complex"
    with pytest.raises(InvalidInput) as exc:
        search.filters_from({"end_from": "2026-02-01", "end_to": "2026-01-01"})
    assert exc.value.code == "invalid_filters"
    with pytest.raises(InvalidInput):
        search.filters_from({"tag": ["x"] * 21})
    with pytest.raises(InvalidInput):
        search.filters_from({"surprise": 1})
    from dataclasses import replace

    nobody = replace(m.principal, role="nobody")
    with pytest.raises(Forbidden):
        search.search(rt, nobody, Filters())


def test_the_index_follows_changes(rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    m, ids = org
    with rt.db.uow() as uow:
        c = uow.session.get(Contract, ids["maint"])
        assert c is not None
        c.title = "Maintenance Hooli"
        c.search_text = "patch tuesdays"
        uow.session.add(ContractTag(contract_id=c.id, tag="platinum", org_id=m.org_id))
        uow.session.commit()
    assert found(rt, m, q="hooli tuesdays platinum") == [ids["maint"]]
    assert found(rt, m, q="sundays") == []
    with rt.db.uow() as uow:
        uow.session.execute(delete(ContractTag).where(ContractTag.tag == "platinum"))
        tag = uow.session.get(ContractTag, (ids["gold"], "emea"))
        uow.session.delete(tag)
        uow.session.commit()
    assert found(rt, m, q="emea") == [ids["nda"]]
    assert found(rt, m, q="platinum") == [ids["maint"]]  # a bulk DELETE: not followed
    with rt.db.engine.begin() as conn:
        assert rebuild(conn, m.org_id) == 1
    assert found(rt, m, q="platinum") == []
    with rt.db.uow() as uow:
        docs = uow.session.scalars(select(ContractSearch.doc).where(
            ContractSearch.contract_id == ids["gold"])).all()
    assert docs == ["gold support for acme acme acct acme gold service level agreement "
                    "credits apply per breach"]


def test_csv_export_neutralises_cells(rt: Runtime) -> None:
    m = member(rt)
    add_contract(rt, m.org_id, title="=HYPERLINK(\"http://evil\")", customer_name="+1 call",
                 tags=("@risk",), value="-5", n=1)
    add_contract(rt, m.org_id, title="Plain, with \"quotes\"", n=2)
    text = search.export_csv(rt, m.principal, Filters(sort="created_at", order="asc"))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == search.EXPORT_HEADER
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["title"] == "'=HYPERLINK(\"http://evil\")"
    assert first["customer_name"] == "'+1 call"
    assert first["tags"] == "'@risk"
    assert first["value"] == "'-5.00"
    assert rows[2][1] == 'Plain, with "quotes"'


def test_export_is_bounded(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    m = member(rt)
    for i in range(3):
        add_contract(rt, m.org_id, n=i)
    monkeypatch.setattr(search, "MAX_EXPORT_ROWS", 2)
    with pytest.raises(InvalidInput) as exc:
        search.export_csv(rt, m.principal, Filters())
    assert exc.value.code == "export_too_large"
    assert len(search.export_csv(rt, m.principal, Filters(type=("nda",))).splitlines()) == 1


def test_text_read_from_a_pdf_is_stored_whatever_it_holds(
        rt: Runtime, org: tuple[Member, dict[str, str]]) -> None:
    """NUL bytes and lone surrogates (PDF text extraction yields both) would make
    PostgreSQL refuse the row, and with it the completion that files the contract."""
    from accord.contracts.services import refresh_search_text, storable_text

    assert storable_text("a\x00b\ud800c") == "a b c"
    assert storable_text("plain ü text") == "plain ü text"
    m, _ = org
    cid = add_contract(rt, m.org_id, title="Surrogate test")
    with rt.db.uow() as uow:
        contract = uow.session.get(Contract, cid)
        assert contract is not None
        refresh_search_text(uow.session, contract, "zebrafish\x00 \udc80quagga")
        uow.session.commit()
    assert cid in found(rt, m, q="zebrafish quagga")
