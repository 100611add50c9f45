"""Bulk send limits and duplicate rows: a file over the size or row limit is 413
``csv_too_large`` (API, console, service), and a row repeating an earlier one is
``duplicate_row`` at the dry run and on submit unless duplicates are allowed."""

from __future__ import annotations

import base64
import re

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.bulk import domain, services
from accord.bulk.domain import CsvError, Shape
from accord.errors import PayloadTooLarge
from accord.runtime import Runtime
from tests.bulk.helpers import HEADER, csv_rows, publish_notice
from tests.factories import member
from tests.web.conftest import HTML, login


def _rows(n: int) -> bytes:
    """``n`` short distinct rows of the notice template."""
    return HEADER.encode() + b"\n" + b"".join(
        b"C%d,,S,s@x.example,C,c@x.example\n" % i for i in range(n))


def _body(data: bytes, **extra: object) -> dict[str, object]:
    return {"template_key": "notice", "csv_base64": base64.b64encode(data).decode(), **extra}


def test_oversized_files_are_413_csv_too_large(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    client = TestClient(create_app(rt), base_url="http://testserver")
    # a million rows (35 MB): refused before it is read
    million = _body(_rows(1_000_000))
    for path in ("/api/v1/bulk-batches/dry-run", "/api/v1/bulk-batches"):
        r = client.post(path, json=million, headers=admin.auth)
        assert r.status_code == 413 and r.json()["error"]["code"] == "csv_too_large", r.text
    del million
    # 50,001 rows in 1.6 MB: over the row limit, not the size limit
    r = client.post("/api/v1/bulk-batches/dry-run", json=_body(_rows(50_001)),
                    headers=admin.auth)
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "csv_too_large" and "50,000 rows" in error["message"]
    assert error["details"][0]["code"] == "csv_too_many_rows"
    assert client.get("/api/v1/bulk-batches", headers=admin.auth).json() == []
    # the byte limit (configurable), checked by the service
    rt.settings = rt.settings.model_copy(update={"bulk_max_csv_bytes": 2000})
    r = client.post("/api/v1/bulk-batches", json=_body(csv_rows(40)), headers=admin.auth)
    assert r.status_code == 413 and r.json()["error"]["code"] == "csv_too_large", r.text
    with pytest.raises(PayloadTooLarge) as exc:
        services.dry_run(rt, admin.principal, template_key="notice", data=csv_rows(40))
    assert exc.value.code == "csv_too_large"
    assert services.dry_run(rt, admin.principal, template_key="notice",
                            data=csv_rows(3)).valid_rows == 3


def test_console_refuses_oversized_files_with_413(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    token = login(browser, admin)
    form = {"csrf_token": token, "template_key": "notice"}
    r = browser.post("/console/bulk/check", data=form,
                     files={"file": ("many.csv", _rows(50_001), "text/csv")})
    assert r.status_code == 413 and "csv_too_large" in r.text
    assert "more than 50,000 rows" in r.text
    rt.settings = rt.settings.model_copy(update={"bulk_max_csv_bytes": 2000})
    r = browser.post("/console/bulk/check", data=form,
                     files={"file": ("big.csv", csv_rows(40), "text/csv")})
    assert r.status_code == 413 and "csv_too_large" in r.text
    r = browser.post("/console/bulk/send", data={
        **form, "csv_b64": base64.b64encode(csv_rows(40)).decode(), "mapping": "{}"})
    assert r.status_code == 413 and "csv_too_large" in r.text


def _with_duplicate() -> bytes:
    """Six rows; row 7 repeats row 3 (other case in the email, spaces around cells)."""
    lines = csv_rows(6).decode().splitlines()
    third = lines[3].split(",")
    third[3] = third[3].upper()
    lines.append(",".join(f" {c} " if c else c for c in third))
    return ("\n".join(lines) + "\n").encode()


def test_duplicate_rows_are_told_at_the_dry_run_and_not_sent(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    data = _with_duplicate()
    report = services.dry_run(rt, admin.principal, template_key="notice", data=data)
    assert (report.total_rows, report.valid_rows, report.invalid_rows) == (7, 6, 1)
    [problem] = report.problems
    assert (problem.row, problem.code) == (7, "duplicate_row")
    assert "as row 3" in problem.message
    batch = services.submit(rt, admin.principal, template_key="notice", data=data).batch
    assert (batch.total_rows, batch.invalid_rows, batch.pending_rows) == (7, 1, 6)
    _name, results = services.results_csv(rt, admin.principal, batch.id)
    assert re.search(r",7,invalid,,duplicate_row,", results)
    # explicitly allowed: every row counts, and it is another batch than the first
    allowed = services.dry_run(rt, admin.principal, template_key="notice", data=data,
                               allow_duplicates=True)
    assert (allowed.valid_rows, allowed.problems) == (7, [])
    again = services.submit(rt, admin.principal, template_key="notice", data=data,
                            allow_duplicates=True)
    assert again.created and again.batch.pending_rows == 7


def test_api_and_console_flag_duplicates(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    publish_notice(rt, admin.principal)
    client = TestClient(create_app(rt), base_url="http://testserver")
    r = client.post("/api/v1/bulk-batches/dry-run", json=_body(_with_duplicate()),
                    headers=admin.auth)
    assert r.status_code == 200 and [(p["row"], p["code"]) for p in r.json()["problems"]] == [
        (7, "duplicate_row")]
    r = client.post("/api/v1/bulk-batches/dry-run",
                    json=_body(_with_duplicate(), allow_duplicates=True), headers=admin.auth)
    assert r.json()["valid_rows"] == 7
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    token = login(browser, admin)
    r = browser.post("/console/bulk/check", data={"csrf_token": token,
                                                  "template_key": "notice"},
                     files={"file": ("people.csv", _with_duplicate(), "text/csv")})
    assert r.status_code == 200 and "duplicate_row" in r.text and "Send 6 envelopes" in r.text
    r = browser.post("/console/bulk/check", data={"csrf_token": token, "template_key": "notice",
                                                  "allow_duplicates": "yes"},
                     files={"file": ("people.csv", _with_duplicate(), "text/csv")})
    assert "Send 7 envelopes" in r.text and 'name="allow_duplicates" value="yes"' in r.text


SHAPE = Shape(variables=frozenset({"customer.legal_name", "note"}),
              list_variables=frozenset(), roles=("customer",))


def test_duplicates_compare_what_the_rows_fill() -> None:
    data = (b"customer.legal_name,note,recipient.customer.name,recipient.customer.email,"
            b"Internal\n"
            b"Acme,,Ann,ann@acme.example,first\n"
            b"Acme,,Ann,ANN@acme.example,second\n"     # an ignored column differs: same
            b"Acme,hello,Ann,ann@acme.example,third\n"  # a variable differs: another
            b"Acme,,Bob,ann@acme.example,fourth\n")    # a recipient's name differs
    table = domain.parse(data, SHAPE, {"Internal": ""})
    dup = domain.Duplicates(table.targets)
    found = [dup.check(n, cells) for n, cells in enumerate(table.rows, start=1)]
    assert [p.row if p else None for p in found] == [None, 2, None, None]


def test_the_row_limit_is_csv_too_large() -> None:
    data = b"customer.legal_name,recipient.customer.name,recipient.customer.email\n" + (
        b"A,B,c@d.example\n" * 6)
    assert len(domain.parse(data, SHAPE, max_rows=6).rows) == 6
    with pytest.raises(CsvError) as exc:
        domain.parse(data, SHAPE, max_rows=5)
    assert exc.value.code == "csv_too_large"
    assert exc.value.problems[0].code == "csv_too_many_rows"
