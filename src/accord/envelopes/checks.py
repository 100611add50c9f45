"""The input checks of a new envelope and of a send, each reporting every problem at once.

No I/O. A problem is ``{"field", "code", "message"}`` (``field`` in
request terms: ``subject``, ``recipients[1].email``, ``fields[3].label``...). The checks
raise InvalidInput (422): with the single code all the problems share, else
``envelope_invalid``, and ``details`` listing each problem.

Sending needs every signer to have at least one signature field of their own
(``signer_without_signature``); initials, a date or a text field are not a signature.
Approvers approve without fields, so an envelope of approvers only (an approval round)
may be sent; an envelope nobody acts on may not (``no_signers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from accord.envelopes.domain import FieldKind, RecipientRole
from accord.envelopes.placement import FieldRequest
from accord.envelopes.services.common import DocumentInput, RecipientInput
from accord.errors import InvalidInput
from accord.validation import TextError, email_address, text_problem

Problem = dict[str, Any]


def _problem(field: str, code: str, message: str, **extra: Any) -> Problem:
    return {"field": field, "code": code, "message": f"{field}: {message}", **extra}


def _text(out: list[Problem], field: str, value: str | None, *,
          multiline: bool = False) -> None:
    if value is None:
        return
    found = text_problem(value, multiline=multiline)
    if found is not None:
        out.append(_problem(field, found.code, found.message))


def raise_problems(problems: Sequence[Problem], summary: str = "the envelope is not valid",
                   ) -> None:
    """InvalidInput for ``problems`` (nothing when there are none)."""
    if not problems:
        return
    codes = {p["code"] for p in problems}
    code = codes.pop() if len(codes) == 1 else "envelope_invalid"
    message = problems[0]["message"] if len(problems) == 1 else (
        f"{summary}: " + "; ".join(p["message"] for p in problems[:10])
        + ("; ..." if len(problems) > 10 else ""))
    raise InvalidInput(message, code=code, details=list(problems))


def header_problems(*, subject: str, documents: Sequence[DocumentInput],
                    recipients: Sequence[RecipientInput], expires_in_days: int,
                    max_documents: int) -> list[Problem]:
    """The subject's length, how many documents and recipients, the expiry."""
    out: list[Problem] = []

    def bad(field: str, code: str, message: str) -> None:
        out.append({"field": field, "code": code, "message": message})

    if not subject or len(subject) > 300:
        bad("subject", "invalid_subject", "subject must be 1-300 characters")
    if not documents:
        bad("documents", "no_documents", "an envelope needs at least one document")
    if len(documents) > max_documents:
        bad("documents", "too_many_documents", f"at most {max_documents} documents")
    if not recipients:
        bad("recipients", "no_recipients", "an envelope needs recipients")
    if not 1 <= expires_in_days <= 365:
        bad("expires_in_days", "invalid_expiry", "expires_in_days must be 1-365")
    return out


def field_problems(recipients: Sequence[RecipientInput], documents: Sequence[DocumentInput],
                   fields: Sequence[FieldRequest]) -> list[Problem]:
    """Each field names an existing recipient (not a cc) and document."""
    out: list[Problem] = []
    for i, f in enumerate(fields):
        where = f"fields[{i}]"
        if not 0 <= f.recipient < len(recipients):
            out.append({"field": f"{where}.recipient", "code": "field_bad_recipient",
                        "message": f"{where}: recipient {f.recipient} does not exist"})
        elif recipients[f.recipient].role is RecipientRole.CC:
            out.append({"field": f"{where}.recipient", "code": "field_for_cc",
                        "message": f"{where}: cc recipients do not fill fields"})
        if not 0 <= f.document < len(documents):
            out.append({"field": f"{where}.document", "code": "field_bad_document",
                        "message": f"{where}: document {f.document} does not exist"})
    return out


def text_problems(*, subject: str, message: str, documents: Sequence[DocumentInput],
                  fields: Sequence[FieldRequest]) -> list[Problem]:
    """Line breaks and control characters in the envelope's texts."""
    out: list[Problem] = []
    _text(out, "subject", subject)
    _text(out, "message", message, multiline=True)
    for i, doc in enumerate(documents):
        _text(out, f"documents[{i}].name", doc.name)
    for i, f in enumerate(fields):
        _text(out, f"fields[{i}].label", f.label)
        _text(out, f"fields[{i}].anchor", f.anchor)
    return out


def person_problems(name: str, email: str, prefix: str = "",
                    ) -> tuple[str, str, list[Problem]]:
    """A recipient's name (trimmed, 1-200 characters, one line) and email (one address,
    normalised and lower-cased, as Accord has always stored them)."""
    problems: list[Problem] = []
    name = name.strip()
    if not name or len(name) > 200:
        problems.append(_problem(f"{prefix}name", "invalid_recipient",
                                 "a name of 1-200 characters is required"))
    else:
        _text(problems, f"{prefix}name", name)
    try:
        email = email_address(email).lower()
    except TextError as exc:
        problems.append(_problem(f"{prefix}email", "invalid_recipient", exc.message,
                                 reason=exc.code))
    return name, email, problems


def recipient_problems(recipients: Sequence[RecipientInput],
                       ) -> tuple[list[RecipientInput], list[Problem]]:
    """The recipients with names trimmed and emails normalised (see
    :func:`person_problems`), and every problem found."""
    out: list[RecipientInput] = []
    problems: list[Problem] = []
    for i, r in enumerate(recipients):
        where = f"recipients[{i}]"
        name, email, found = person_problems(r.name, r.email, f"{where}.")
        problems += found
        _text(problems, f"{where}.phone", r.phone)
        _text(problems, f"{where}.access_code", r.access_code)
        for j, k in enumerate(r.kba):
            _text(problems, f"{where}.kba[{j}].question", k.question)
            _text(problems, f"{where}.kba[{j}].answer", k.answer)
        if not 1 <= r.routing_order <= 100:
            problems.append(_problem(f"{where}.routing_order", "invalid_routing_order",
                                     "routing_order must be 1-100"))
        out.append(replace(r, name=name, email=email))
    return out, problems


@dataclass(frozen=True)
class Part:
    """A recipient as the send check sees it."""

    label: str  # e.g. "recipients[1]"
    name: str
    email: str
    role: RecipientRole


def signature_problems(parts: Sequence[Part],
                       field_kinds: Iterable[tuple[int, FieldKind]]) -> list[Problem]:
    """Every signer needs a signature field of their own; someone must act.
    ``field_kinds``: (index into ``parts``, kind) for each field."""
    if not any(p.role is not RecipientRole.CC for p in parts):
        return [_problem("recipients", "no_signers",
                         "an envelope needs at least one signer or approver")]
    signed = {i for i, kind in field_kinds if kind is FieldKind.SIGNATURE}
    return [_problem(p.label, "signer_without_signature",
                     f"signer {p.name} <{p.email}> has no signature field; add a field of "
                     "kind signature for them (initials, date or text are not enough)",
                     recipient={"name": p.name, "email": p.email})
            for i, p in enumerate(parts)
            if p.role is RecipientRole.SIGNER and i not in signed]


def send_problems(recipients: Sequence[RecipientInput],
                  fields: Sequence[FieldRequest]) -> list[Problem]:
    """:func:`signature_problems` for a new envelope's inputs."""
    parts = [Part(f"recipients[{i}]", r.name, r.email, r.role)
             for i, r in enumerate(recipients)]
    return signature_problems(parts, [(f.recipient, f.kind) for f in fields
                                      if 0 <= f.recipient < len(parts)])
