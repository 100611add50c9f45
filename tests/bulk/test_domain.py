"""CSV rules without a database: decoding, header and column problems, row problems,
formula neutralising."""

from __future__ import annotations

import csv
import io

import pytest

from accord.bulk import domain
from accord.bulk.domain import CsvError, Shape

SHAPE = Shape(variables=frozenset({"customer.legal_name", "note", "items"}),
              list_variables=frozenset({"items"}), roles=("customer", "copy"),
              phone_roles=frozenset({"customer"}))
HEADER = ("customer.legal_name,recipient.customer.name,recipient.customer.email,"
          "recipient.customer.phone,recipient.copy.name,recipient.copy.email")


def _code(data: bytes, mapping: dict[str, str] | None = None) -> str:
    with pytest.raises(CsvError) as exc:
        domain.parse(data, SHAPE, mapping)
    return exc.value.code


def test_file_level_problems_have_codes() -> None:
    assert _code("customer.legal_name\nCafé".encode("latin-1")) == "csv_not_utf8"
    assert _code(b"") == "csv_no_header"
    assert _code(b"\n\n") == "csv_no_header"
    assert _code((HEADER + "\n").encode()) == "csv_no_rows"
    assert _code((HEADER + ",colour\nx,a,a@b.example,+15550100123,c,c@d.example,red\n")
                 .encode()) == "csv_unknown_column"
    assert _code((HEADER + ",note,note\n").encode()) == "csv_duplicate_column"
    assert _code(b"customer.legal_name\nAcme\n") == "csv_missing_column"
    assert _code((HEADER + "\nx\n").encode(), {"Nope": "note"}) == "mapping_unknown_column"


def test_unknown_and_duplicate_columns_are_all_listed() -> None:
    with pytest.raises(CsvError) as exc:
        domain.parse((HEADER + ",colour,size,note,note\n1\n").encode(), SHAPE)
    problems = {(p.code, p.column) for p in exc.value.problems}
    assert ("csv_unknown_column", "colour") in problems
    assert ("csv_unknown_column", "size") in problems
    assert ("csv_duplicate_column", "note") in problems
    assert exc.value.code == "csv_invalid"


def test_mapping_renames_and_ignores_columns() -> None:
    data = (b"Company,Who,Mail,Phone,CC,CC mail,Internal\n"
            b"Acme,Ann,ann@acme.example,+15550100123,Carl,carl@x.example,ignore me\n")
    table = domain.parse(data, SHAPE, {
        "Company": "customer.legal_name", "Who": "recipient.customer.name",
        "Mail": "recipient.customer.email", "Phone": "recipient.customer.phone",
        "CC": "recipient.copy.name", "CC mail": "recipient.copy.email", "Internal": ""})
    row = domain.row_input(1, table.rows[0], table.header, table.targets, SHAPE)
    assert row.data == {"customer.legal_name": "Acme"}
    assert row.recipients == {"customer": {"name": "Ann", "email": "ann@acme.example",
                                           "phone": "+15550100123"},
                              "copy": {"name": "Carl", "email": "carl@x.example"}}


def test_byte_order_mark_and_blank_lines_are_ignored() -> None:
    data = ("\ufeff" + HEADER + "\n\nAcme,Ann,a@a.example,+1555,C,c@c.example\n\n").encode()
    table = domain.parse(data, SHAPE)
    assert table.header[0] == "customer.legal_name"
    assert len(table.rows) == 1


def test_row_problems() -> None:
    data = (HEADER + ",items\n"
            "Acme,Ann,not-an-email,,Carl,carl@x.example,[{\"a\": 1}]\n"
            "Acme,Ann,ann@a.example,+1555,Carl,carl@x.example,{broken\n"
            "short,row\n").encode()
    table = domain.parse(data, SHAPE)
    columns = {t.name: h for h, t in zip(table.header, table.targets, strict=True) if t}
    found = []
    for n, cells in enumerate(table.rows, start=1):
        given = domain.row_input(n, cells, table.header, table.targets, SHAPE)
        found += given.problems + domain.recipient_problems(n, given.recipients, SHAPE,
                                                           columns)
    got = {(p.row, p.column, p.code) for p in found}
    assert (1, "recipient.customer.email", "invalid_email") in got
    assert (1, "recipient.customer.phone", "recipient_missing") in got  # SMS role
    assert (2, "items", "variable_type") in got
    assert (3, None, "csv_row_length") in got


@pytest.mark.parametrize(("cell", "shown"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+1", "'+1"),
    ("-1", "'-1"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1", "'\t=1"),
    ("plain", "plain"),
    ("a=b", "a=b"),
])
def test_formula_cells_are_neutralised(cell: str, shown: str) -> None:
    assert domain.neutralise(cell) == shown
    rows = list(csv.reader(io.StringIO(domain.results_csv(["h"], [[cell]]), newline="")))
    assert rows == [["h"], [shown]]
