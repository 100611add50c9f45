"""The shared input checks (accord.validation) and the database's last line of defence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accord.accounts.models import Organisation
from accord.bulk.domain import Shape, recipient_problems
from accord.errors import InvalidInput
from accord.runtime import Runtime
from accord.validation import (
    TextError,
    email_address,
    email_or_blank,
    multi_line,
    single_line,
    text_problem,
)


def test_single_and_multi_line_text() -> None:
    assert single_line("Support agreement – Zoë’s “SLA” 🖋") == "Support agreement – Zoë’s “SLA” 🖋"
    assert multi_line("Hello,\r\n\tplease sign.\n") == "Hello,\r\n\tplease sign.\n"
    for bad in ("a\nb", "a\rb", "a\u2028b"):
        with pytest.raises(TextError) as exc:
            single_line(bad)
        assert exc.value.code == "line_break_not_allowed"
    for bad in ("a\tb", "a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\x9fb"):
        with pytest.raises(TextError) as exc:
            single_line(bad)
        assert exc.value.code == "control_character"
    for bad in ("a\x00b", "a\x0bb", "a\x0cb", "a\x7fb", "a\x85b", "a\u2029b"):
        assert text_problem(bad, multiline=True) is not None, repr(bad)


def test_email_addresses() -> None:
    assert email_address(" Ann.Signer@Customer.EXAMPLE ") == "Ann.Signer@customer.example"
    assert email_address("zoë@exämple.com") == "zoë@exämple.com"
    assert email_or_blank("  ") == ""
    for bad in ("a@example.com,b@example.com", "Evil <evil@example.com>", "a@b", "a b@c.com",
                "ann@example.com\n", "a\x00@example.com", "@example.com", "a@", "ann",
                "ann@localhost", "ann@x.test", "ann@[127.0.0.1]", '"a b"@example.com',
                "a" * 310 + "@example.com"):
        with pytest.raises(TextError) as exc:
            email_address(bad)
        assert exc.value.code in {"invalid_email", "line_break_not_allowed",
                                  "control_character"}, bad


def test_bulk_rows_use_the_same_email_check() -> None:
    shape = Shape(variables=frozenset(), list_variables=frozenset(), roles=("customer",))
    for bad, code in (("Evil <evil@example.com>", "invalid_email"), ("a@b", "invalid_email"),
                      ("a@example.com;b@example.com", "invalid_email")):
        got = recipient_problems(1, {"customer": {"name": "Ann", "email": bad}}, shape,
                                 {"recipient.customer.email": "email"})
        assert [p.code for p in got] == [code], bad
    got = recipient_problems(1, {"customer": {"name": "Ann\nB", "email": "a@example.com"}},
                             shape, {})
    assert [p.code for p in got] == ["line_break_not_allowed"]


def test_a_nul_never_reaches_the_database(rt: Runtime) -> None:
    with rt.db.uow() as uow:
        uow.session.add(Organisation(name="Acme\x00", slug="acme"))
        with pytest.raises(InvalidInput) as exc:
            uow.session.flush()
        assert exc.value.code == "invalid_text"
        assert exc.value.details[0]["field"] == "organisations.name"
    query = select(Organisation).where(Organisation.slug == "a\x00")
    if rt.db.is_postgres:  # it cannot take a NUL: refused before it is sent
        with rt.db.uow() as uow, pytest.raises(InvalidInput):
            uow.session.scalars(query)
    else:  # SQLite compares it like any other character
        with rt.db.uow() as uow:
            assert list(uow.session.scalars(query)) == []
    with rt.db.uow() as uow:
        assert list(uow.session.scalars(select(Organisation))) == []
