"""Console pages for envelopes: list, new-envelope form, detail, send, void, downloads.

Thin: each handler checks the session (and the CSRF token on POST), parses the form, calls
the envelope/document services and renders. Domain errors raised by services are rendered
by the app's ``error.html`` handler, except on the new-envelope form, which re-renders
itself with the message and the values the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from accord.access import Permission
from accord.documents.pdf import DocumentError, inspect_pdf
from accord.envelopes import services
from accord.envelopes.domain import EnvelopeStatus, FieldKind, RecipientRole
from accord.envelopes.placement import FieldRequest
from accord.envelopes.services import documents
from accord.errors import AccordError, InvalidInput
from accord.web.console import ConsoleUser
from accord.web.deps import Rt, client_ip, user_agent
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 25
MIN_ROWS, MAX_ROWS = 3, 20  # rows the form offers
MAX_RECIPIENTS = 100  # rows a (hand-made) form may post, as the API allows
# Field placement, in PDF points from the page's top-left corner (see the form's help).
DATE_OFFSET_X = 180.0  # the date_signed field sits this far right of a signature anchor
DEFAULT_X, DEFAULT_Y = 72.0, 650.0  # first un-anchored signature, last page, bottom area
DEFAULT_COLUMN, DEFAULT_ROW = 250.0, 60.0  # then two per row, rows going up the page
STATUSES = [s.value for s in EnvelopeStatus]
ROLES = [r.value for r in RecipientRole]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_INDEXED = re.compile(r"\b(fields|recipients|documents)\[(\d+)\](?:\.(\w+))?")
# Signer authentication offered per recipient row (accord.signing.domain.Factor values)
AUTH_FACTORS = [("email_otp", "Email code"), ("sms_otp", "SMS code"),
                ("access_code", "Access code"), ("kba", "Knowledge questions")]
KBA_PAIRS = 2  # question/answer pairs the form offers per row (the API takes up to 5)
# The service's signer-authentication errors in the form's words (by error code)
AUTH_MESSAGES = {
    "phone_required": "“SMS code” needs the recipient's mobile number.",
    "invalid_phone": "enter the mobile number in international form: + then 7-15 digits, "
                     "e.g. +15550100123.",
    "phone_without_sms_otp": "a mobile number is only used with “SMS code”: tick it or "
                             "clear the number.",
    "access_code_without_factor": "an access code is only used with “Access code”: tick "
                                  "it or clear the code.",
    "kba_required": "“Knowledge questions” needs at least one question with its answer.",
    "kba_without_factor": "questions are only used with “Knowledge questions”: tick it or "
                          "clear them.",
    "auth_for_cc": "cc recipients only get a copy; they cannot be asked to authenticate.",
}


# -- the new-envelope form ----------------------------------------------------------------


@dataclass
class RecipientRow:
    name: str = ""
    email: str = ""
    role: str = RecipientRole.SIGNER.value
    order: str = "1"
    anchor: str = ""
    auth: tuple[str, ...] = ()  # factor names ticked for this row
    phone: str = ""
    access_code: str = ""
    kba: tuple[tuple[str, str], ...] = (("", ""),) * KBA_PAIRS

    @property
    def has_auth(self) -> bool:
        return bool(self.auth or self.phone.strip() or self.access_code.strip()
                    or any(q.strip() or a.strip() for q, a in self.kba))

    @property
    def blank(self) -> bool:
        return not (self.name.strip() or self.email.strip() or self.anchor.strip()
                    or self.has_auth)


@dataclass
class EnvelopeForm:
    """What the user typed, kept to re-render the form after an error."""

    subject: str = ""
    message: str = ""
    send_now: bool = True
    rows: list[RecipientRow] = field(default_factory=list)

    def padded(self, count: int) -> list[RecipientRow]:
        return (self.rows + [RecipientRow() for _ in range(count - len(self.rows))])[:count]


@dataclass(frozen=True)
class AuthColumns:
    """The signer-authentication inputs of every row, as posted (parallel lists, except
    ``factors``: one "<row number>:<factor>" per ticked box)."""

    factors: Sequence[str] = ()
    phones: Sequence[str] = ()
    access_codes: Sequence[str] = ()
    kba: Sequence[Sequence[str]] = ()  # question 1, answer 1, question 2, answer 2, ...


def _factors_by_row(values: Sequence[str], rows: int) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for value in values:
        number, _, factor = value.partition(":")
        if not number.isdigit() or not 1 <= int(number) <= rows or not factor:
            raise InvalidInput(f"Signer authentication {value!r} does not name a recipient "
                               "row and a factor.", code="invalid_auth_factor")
        out.setdefault(int(number), []).append(factor)
    return {n: tuple(f) for n, f in out.items()}


def _kba_pairs(values: Sequence[str | None]) -> tuple[tuple[str, str], ...]:
    """[question 1, answer 1, question 2, answer 2] as pairs, padded with blanks."""
    flat = [v or "" for v in values] + [""] * (2 * KBA_PAIRS - len(values))
    return tuple(zip(flat[0::2], flat[1::2], strict=True))


def _rows(names: Sequence[str], emails: Sequence[str], roles: Sequence[str],
          orders: Sequence[str], anchors: Sequence[str],
          auth: AuthColumns | None = None) -> list[RecipientRow]:
    auth = auth or AuthColumns()
    columns = [names, emails, roles, orders, anchors, auth.phones, auth.access_codes,
               *auth.kba]
    rows = [RecipientRow(n or "", e or "", r or RecipientRole.SIGNER.value, o or "1", a or "",
                         phone=p or "", access_code=c or "", kba=_kba_pairs(kba))
            for n, e, r, o, a, p, c, *kba in zip_longest(*columns)]
    for number, factors in _factors_by_row(auth.factors, len(rows)).items():
        rows[number - 1].auth = factors
    return rows


def _recipients(rows: Sequence[RecipientRow]) -> list[services.RecipientInput]:
    """The non-blank rows as recipients (InvalidInput names the row at fault)."""
    if len(rows) > MAX_RECIPIENTS:
        raise InvalidInput(f"At most {MAX_RECIPIENTS} recipient rows.",
                           code="too_many_recipients")
    out = []
    for number, row in enumerate(rows, start=1):
        if row.blank:
            continue
        try:
            role = RecipientRole(row.role)
        except ValueError:
            raise InvalidInput(f"Recipient row {number}: choose signer, approver or cc.",
                               code="invalid_role") from None
        try:
            order = int(row.order.strip() or "1")
        except ValueError:
            raise InvalidInput(f"Recipient row {number}: the routing order must be a whole "
                               "number.", code="invalid_routing_order") from None
        if role is RecipientRole.CC and row.anchor.strip():
            raise InvalidInput(f"Recipient row {number}: cc recipients get a copy only and "
                               "have no signature anchor.", code="field_for_cc")
        out.append(services.RecipientInput(
            row.name.strip(), row.email.strip(), role, order, auth=row.auth,
            phone=row.phone.strip() or None,
            access_code=row.access_code if row.access_code.strip() else None,
            kba=tuple(services.KbaInput(q, a) for q, a in row.kba if q.strip() or a.strip())))
    if not out:
        raise InvalidInput("Add at least one recipient (a name and an email).",
                           code="no_recipients")
    return out


def _last_page(data: bytes, *, max_bytes: int, max_pages: int) -> int:
    """The first document's page count (1 when unreadable: create() reports why)."""
    try:
        return inspect_pdf(data, max_bytes=max_bytes, max_pages=max_pages).page_count
    except DocumentError:
        return 1


def _fields(rows: Sequence[RecipientRow], recipients: Sequence[services.RecipientInput],
            last_page: int) -> list[FieldRequest]:
    """Signature placement from the rows: at the anchor text (with a date_signed field to
    its right), or, for signers without an anchor, at the bottom of the first document's
    last page. Approvers without an anchor and cc recipients get no fields."""
    anchors = [row.anchor.strip() for row in rows if not row.blank]
    out: list[FieldRequest] = []
    unanchored = 0
    for index, (recipient, anchor) in enumerate(zip(recipients, anchors, strict=True)):
        if recipient.role is RecipientRole.CC:
            continue
        if anchor:
            out.append(FieldRequest(recipient=index, kind=FieldKind.SIGNATURE, anchor=anchor))
            out.append(FieldRequest(recipient=index, kind=FieldKind.DATE_SIGNED, anchor=anchor,
                                    anchor_x_offset=DATE_OFFSET_X))
        elif recipient.role is RecipientRole.SIGNER:
            column, row = unanchored % 2, unanchored // 2
            out.append(FieldRequest(recipient=index, kind=FieldKind.SIGNATURE, page=last_page,
                                    x=DEFAULT_X + column * DEFAULT_COLUMN,
                                    y=DEFAULT_Y - row * DEFAULT_ROW))
            unanchored += 1
    return out


def _in_form_terms(exc: AccordError, row_numbers: Sequence[int],
                   fields: Sequence[FieldRequest]) -> AccordError:
    """The service's error with its list indexes ("fields[2]") put as the form shows them
    ("Recipient row 3")."""

    def where(match: re.Match[str]) -> str:
        kind, index, attr = match.group(1), int(match.group(2)), match.group(3)
        suffix = f" ({attr.replace('_', ' ')})" if attr else ""
        if kind == "documents":
            return f"Document {index + 1}{suffix}"
        if kind == "fields" and index < len(fields):
            index, suffix = fields[index].recipient, ""
        if index < len(row_numbers):
            return f"Recipient row {row_numbers[index]}{suffix}"
        return match.group(0)

    text = exc.message
    if exc.code in AUTH_MESSAGES and _INDEXED.match(text):
        text = f"{text.split(':', 1)[0]}: {AUTH_MESSAGES[exc.code]}"
    message = _INDEXED.sub(where, text)
    message = message.replace("in document 0", "in the first document")
    return type(exc)(message, code=exc.code, details=exc.details)


def _read_uploads(uploads: Sequence[UploadFile], max_bytes: int) -> list[services.DocumentInput]:
    """The chosen files (a browser sends one empty part when none is chosen). At most
    ``max_bytes + 1`` bytes are read, enough for create() to refuse an oversized file."""
    docs = []
    for upload in uploads:
        data = upload.file.read(max_bytes + 1)
        if upload.filename or data:
            docs.append(services.DocumentInput(name=upload.filename or "document.pdf",
                                               data=data))
    return docs


def _form_page(request: Request, console: ConsoleUser, form: EnvelopeForm, *, rows: int,
               error: AccordError | None = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "console/envelope_new.html", status_code=status_code, form=form,
                  rows=form.padded(rows), roles=ROLES, error=error, max_rows=MAX_ROWS,
                  auth_factors=AUTH_FACTORS,
                  date_offset=DATE_OFFSET_X, default_x=DEFAULT_X, default_y=DEFAULT_Y,
                  **console.context("new"))


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


@router.get("", response_class=HTMLResponse)
def envelope_list(request: Request, rt: Rt, console: ConsoleUser,
                  status: Annotated[str, Query()] = "",
                  page: Annotated[str, Query()] = "1") -> HTMLResponse:
    number = min(max(1, _int(page, 1)), 10_000)  # a huge page would overflow the offset
    result = services.list_envelopes(rt, console.principal, status=status or None,
                                     limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    pages = max(1, -(-result.total // PAGE_SIZE))
    return render(request, "console/envelopes.html", page=result, number=number, pages=pages,
                  status=status, statuses=STATUSES, **console.context("envelopes"))


@router.get("/envelopes/new", response_class=HTMLResponse)
def new_envelope(request: Request, console: ConsoleUser,
                 rows: Annotated[str, Query()] = "") -> HTMLResponse:
    console.principal.require(Permission.ENVELOPE_SEND)
    count = min(MAX_ROWS, max(MIN_ROWS, _int(rows, MIN_ROWS)))
    return _form_page(request, console, EnvelopeForm(), rows=count)


@router.post("/envelopes", response_class=HTMLResponse, response_model=None)
def create_envelope(
    request: Request, rt: Rt, console: ConsoleUser, *,
    csrf_token: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
    send_now: Annotated[str, Form()] = "",
    documents_: Annotated[list[UploadFile], File(alias="documents", default_factory=list)],
    recipient_name: Annotated[list[str], Form(default_factory=list)],
    recipient_email: Annotated[list[str], Form(default_factory=list)],
    recipient_role: Annotated[list[str], Form(default_factory=list)],
    recipient_order: Annotated[list[str], Form(default_factory=list)],
    recipient_anchor: Annotated[list[str], Form(default_factory=list)],
    recipient_auth: Annotated[list[str], Form(default_factory=list)],
    recipient_phone: Annotated[list[str], Form(default_factory=list)],
    recipient_access_code: Annotated[list[str], Form(default_factory=list)],
    recipient_kba_q1: Annotated[list[str], Form(default_factory=list)],
    recipient_kba_a1: Annotated[list[str], Form(default_factory=list)],
    recipient_kba_q2: Annotated[list[str], Form(default_factory=list)],
    recipient_kba_a2: Annotated[list[str], Form(default_factory=list)],
) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    auth = AuthColumns(recipient_auth, recipient_phone, recipient_access_code,
                       [recipient_kba_q1, recipient_kba_a1, recipient_kba_q2, recipient_kba_a2])
    form = EnvelopeForm(subject=subject, message=message, send_now=bool(send_now),
                        rows=_rows(recipient_name, recipient_email, recipient_role,
                                   recipient_order, recipient_anchor, auth))
    s = rt.settings
    actor = services.staff_actor(console.principal, client_ip(request), user_agent(request))
    fields: list[FieldRequest] = []
    try:
        docs = _read_uploads(documents_, s.max_document_bytes)
        if not docs:
            raise InvalidInput("Choose at least one PDF document.", code="no_documents")
        recipients = _recipients(form.rows)
        if form.send_now and all(r.role is RecipientRole.CC for r in recipients):
            raise InvalidInput("An envelope needs at least one signer or approver.",
                               code="no_signers")
        last_page = _last_page(docs[0].data, max_bytes=s.max_document_bytes,
                               max_pages=s.max_document_pages)
        fields = _fields(form.rows, recipients, last_page)
        envelope_id = services.create(
            rt, console.principal, subject=subject, message=message, documents=docs,
            recipients=recipients, fields=fields, actor=actor, send=form.send_now)
    except AccordError as exc:
        if exc.status not in (413, 422):
            raise
        row_numbers = [n for n, row in enumerate(form.rows, start=1) if not row.blank]
        return _form_page(request, console, form,
                          rows=min(MAX_RECIPIENTS, max(MIN_ROWS, len(form.rows))),
                          error=_in_form_terms(exc, row_numbers, fields),
                          status_code=exc.status)
    return RedirectResponse(f"/console/envelopes/{envelope_id}", status_code=303)


# -- one envelope -------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEvent:
    tag: str
    actor: str
    at: datetime | None
    ip: str | None


def _timeline(trail: dict[str, Any]) -> list[TimelineEvent]:
    """The audit trail's events for display, times in UTC."""
    out = []
    events = trail.get("events")
    for e in events if isinstance(events, list) else []:
        try:
            at: datetime | None = datetime.fromisoformat(str(e["occurred_at"])).astimezone(UTC)
        except (KeyError, ValueError):
            at = None
        out.append(TimelineEvent(str(e.get("tag", "")), str(e.get("actor", "")), at,
                                 e.get("ip")))
    return out


NOTICES = {
    "not_sent": "The envelope was saved as a draft but could not be sent. Use Send below "
                "to try again.",
}


@router.get("/envelopes/{envelope_id}", response_class=HTMLResponse)
def envelope_detail(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str,
                    notice: Annotated[str, Query()] = "") -> HTMLResponse:
    from accord.envelopes.pages.lifecycle import NOTICES as LIFECYCLE_NOTICES

    return detail_page(request, rt, console, envelope_id,
                       notice=NOTICES.get(notice) or LIFECYCLE_NOTICES.get(notice))


def detail_page(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str, *,
                notice: str | None = None, error: AccordError | None = None,
                status_code: int = 200) -> HTMLResponse:
    """The envelope page (also re-rendered with a recipient action's error)."""
    from accord.envelopes import lifecycle

    envelope = services.get(rt, console.principal, envelope_id)
    trail = documents.audit_trail(rt, console.principal, envelope_id)
    return render(request, "console/envelope.html", status_code=status_code,
                  envelope=envelope, events=_timeline(trail), notice=notice, error=error,
                  life=lifecycle.get_lifecycle(rt, console.principal, envelope_id),
                  **console.context("envelopes"))


@router.post("/envelopes/{envelope_id}/send")
def send_envelope(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str,
                  csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    actor = services.staff_actor(console.principal, client_ip(request), user_agent(request))
    services.send(rt, console.principal, envelope_id, actor=actor)
    return RedirectResponse(f"/console/envelopes/{envelope_id}", status_code=303)


@router.post("/envelopes/{envelope_id}/void")
def void_envelope(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str, *,
                  csrf_token: Annotated[str, Form()] = "",
                  reason: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    actor = services.staff_actor(console.principal, client_ip(request), user_agent(request))
    services.void(rt, console.principal, envelope_id, reason, actor=actor)
    return RedirectResponse(f"/console/envelopes/{envelope_id}", status_code=303)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{_SAFE_NAME.sub("_", name)}"'}


@router.get("/envelopes/{envelope_id}/document")
def download_document(request: Request, rt: Rt, console: ConsoleUser,
                      envelope_id: str) -> Response:
    data = documents.sealed_pdf(rt, console.principal, envelope_id,
                                actor=f"user:{console.principal.email}",
                                ip=client_ip(request), user_agent=user_agent(request))
    return Response(data, media_type="application/pdf",
                    headers=_attachment(f"{envelope_id}.pdf"))


@router.get("/envelopes/{envelope_id}/audit.json")
def download_audit(rt: Rt, console: ConsoleUser, envelope_id: str) -> JSONResponse:
    trail: dict[str, Any] = documents.audit_trail(rt, console.principal, envelope_id)
    return JSONResponse(trail, headers=_attachment(f"{envelope_id}-audit.json"))
