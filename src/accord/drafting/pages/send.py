"""Console pages for using a published template: the send form generated from the
version's variable declarations, a PDF preview of what was entered, and sending.

Thin: read the form (``pages_form``), call ``create_from_template`` or ``preview``, render.
On a 422 the form comes back with every problem next to its input and in a summary at the
top, values kept; nothing is created.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from accord.access import Permission
from accord.drafting import services, variables
from accord.drafting.domain import parse_roles
from accord.drafting.pages.common import collect, details_of, page_context, pdf_response
from accord.drafting.pages.form import (
    ROWS_DEFAULT,
    Posted,
    Table,
    build_form,
    read_form,
    read_record,
    rows_param,
    targets,
)
from accord.envelopes.services import staff_actor
from accord.errors import AccordError, Conflict
from accord.runtime import Runtime
from accord.web.console import Console, ConsoleUser
from accord.web.deps import Rt, client_ip, user_agent
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

_CELL = re.compile(r"^(?P<var>[a-z0-9_.]+)\[(?P<row>\d+)\]\.")
_RECIPIENT = re.compile(r"^recipients\[\d+\]: ")
# signer-authentication problems (accord.signing, by code) in the form's words
AUTH_MESSAGES = {
    "phone_required": "This role needs the recipient's mobile number for the SMS code.",
    "invalid_phone": "Enter the mobile number in international form: + then 7-15 digits, "
                     "e.g. +15550100123.",
    "kba_required": "This role needs at least one question with its answer.",
}


async def _posted_form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _published(rt: Runtime, console: Console, key: str,
               version: int | None) -> tuple[services.TemplateView,
                                             services.TemplateVersionView]:
    """The template and the version to fill in: ``version``, else the latest published."""
    tpl = services.get_template(rt, console.principal, key)
    number = version if version is not None else tpl.published_version
    if number is None:
        raise Conflict(f"Template {key!r} has no published version yet: it can be used once "
                       "legal publishes it.", code="template_not_published")
    return tpl, services.get_template_version(rt, console.principal, key, number)


def _in_words(problems: Sequence[tuple[str, str]],
              specs: Sequence[variables.VariableSpec]) -> list[tuple[str, str]]:
    """Table cell problems say which table and row (``items[2].qty`` -> "Items, row 3")."""
    labels = {s.name: s.label for s in specs}
    out = []
    for where, message in problems:
        match = _CELL.match(where)
        prefix = (f"{labels[match['var']]}, row {int(match['row']) + 1}: "
                  if match and match["var"] in labels else "")
        out.append((where, prefix + message))
    return out


def _page(request: Request, console: Console, tpl: services.TemplateView,
          version: services.TemplateVersionView, *, posted: Posted | None = None,
          problems: Sequence[tuple[str, str]] = (), rows: int = ROWS_DEFAULT,
          status_code: int = 200) -> HTMLResponse:
    specs = variables.parse_specs(version.variables)
    roles, _issues = parse_roles(version.roles)
    worded = _in_words(problems, specs)
    grouped: dict[str, list[str]] = {}
    for where, message in worded:
        grouped.setdefault(where, []).append(message[:1].upper() + message[1:])
    items, people = build_form(specs, roles, posted, grouped, rows)
    ids = {**targets(items, people), "customer": "customer", "subject": "subject"}
    errors = collect(worded, lambda where: where if where in ids else None, ids)
    return render(request, "drafting/send.html", status_code=status_code, tpl=tpl,
                  version=version, items=items, people=people, posted=posted or Posted(),
                  rule_notes=_rule_notes(version.rules),
                  errors=errors if problems else None, rows=rows,
                  has_tables=any(isinstance(i, Table) for i in items),
                  **page_context(console))


def _rule_notes(rules: Sequence[Any]) -> dict[str, dict[str, list[str]]]:
    """Per role: the routing rules that add it (``added``) or may require an SMS code of
    it (``sms``), by description, for the form's hints."""
    notes: dict[str, dict[str, list[str]]] = {}
    for rule in rules:
        for action in rule.get("then") or []:
            kind = ("added" if action.get("action") == "add_recipient" else
                    "sms" if "sms_otp" in str(action.get("method", "")) else None)
            if kind:
                notes.setdefault(str(action.get("role")), {}).setdefault(kind, []).append(
                    str(rule.get("description")))
    return notes


def _problems(exc: AccordError, roles: Sequence[str]) -> list[tuple[str, str]]:
    """The service's problems; a signer-authentication problem (``details`` naming the
    recipient's index) is put on that role's recipient."""
    details = exc.details
    if isinstance(details, dict) and isinstance(details.get("recipient"), int):
        index = details["recipient"]
        where = f"recipients.{roles[index]}" if 0 <= index < len(roles) else ""
        if isinstance(details.get("role"), str):  # routing rules may drop or add roles
            where = f"recipients.{details['role']}"
        return [(where, AUTH_MESSAGES.get(exc.code) or _RECIPIENT.sub("", exc.message))]
    return details_of(exc)


def _version(form: FormData) -> int | None:
    raw = form.get("version")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 9 else None


@router.get("/templates/{key}/send", response_class=HTMLResponse)
def send_form(request: Request, rt: Rt, console: ConsoleUser, key: str,
              rows: Annotated[str, Query()] = "") -> HTMLResponse:
    console.principal.require(Permission.TEMPLATE_USE)
    tpl, version = _published(rt, console, key, None)
    return _page(request, console, tpl, version, rows=rows_param(rows))


def _again(request: Request, rt: Runtime, console: Console, key: str, form: FormData,
           posted: Posted, error: AccordError | list[tuple[str, str]]) -> HTMLResponse:
    """The form once more, with what was entered and every problem (422, or the error's
    status)."""
    tpl, version = _published(rt, console, key, _version(form))
    if isinstance(error, AccordError):
        roles = [r.key for r in parse_roles(version.roles)[0]]
        problems, status = _problems(error, roles), error.status
    else:
        problems, status = error, 422
    return _page(request, console, tpl, version, posted=posted, problems=problems,
                 rows=posted.rows, status_code=status)


@router.post("/templates/{key}/send", response_class=HTMLResponse, response_model=None)
def send(request: Request, rt: Rt, console: ConsoleUser, key: str,
         form: PostedForm) -> Response:
    console.check_csrf(str(form.get("csrf_token") or ""))
    posted = read_form(form.multi_items())
    record, problem = read_record(posted.customer)
    if problem:
        return _again(request, rt, console, key, form, posted, [("customer", problem)])
    p = console.principal
    try:
        envelope_id = services.create_from_template(
            rt, p, template_key=key, version=_version(form), data=posted.data(),
            recipients=posted.recipient_data(), customer=record,
            subject=posted.subject.strip() or None, message=posted.message.strip(),
            send=True, actor=staff_actor(p, client_ip(request), user_agent(request)))
    except AccordError as exc:
        if exc.status not in (413, 422):
            raise
        return _again(request, rt, console, key, form, posted, exc)
    return RedirectResponse(f"/console/envelopes/{envelope_id}", status_code=303)


@router.post("/templates/{key}/send/preview", response_class=HTMLResponse,
             response_model=None)
def send_preview(request: Request, rt: Rt, console: ConsoleUser, key: str,
                 form: PostedForm) -> Response:
    """The PDF as it would be sent (footed "Preview"), in a new tab; on a problem, the
    form with the problems (in that tab)."""
    console.check_csrf(str(form.get("csrf_token") or ""))
    posted = read_form(form.multi_items())
    record, problem = read_record(posted.customer)
    if problem:
        return _again(request, rt, console, key, form, posted, [("customer", problem)])
    version = _version(form)
    try:
        pdf = services.preview(rt, console.principal, key=key, version=version,
                               data=posted.data(), customer=record)
    except AccordError as exc:
        if exc.status not in (413, 422):
            raise
        return _again(request, rt, console, key, form, posted, exc)
    label = f"{key}-v{version}" if version else key
    return pdf_response(pdf, f"{label}-preview.pdf")

