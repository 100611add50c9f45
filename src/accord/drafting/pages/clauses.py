"""Console pages for the clause library: list, create, edit (a new draft version once the
latest is in review or published), submit, publish, reject, retire, and the diff between
two versions. Thin, like the template pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.access import Permission
from accord.drafting import services
from accord.drafting.pages.common import (
    Errors,
    collect,
    details_of,
    diff_lines,
    page_context,
    problem_status,
    version_pair,
)
from accord.errors import AccordError, NotFound
from accord.web.console import Console, ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

ACTIONS = {"submit": services.submit_clause, "publish": services.publish_clause,
           "reject": services.reject_clause, "retire": services.retire_clause}
NOTICES = {
    "created": "Clause created as draft version 1. Submit it for review when it is ready.",
    "saved": "Saved.",
    "submit": "Submitted for review.",
    "publish": "Published: templates published from now on use this version.",
    "reject": "Sent back to draft.",
    "retire": "Retired: templates already published keep the version they pinned.",
}
FIELDS = ("key", "title", "body")
EXAMPLE_BODY = """\
Neither Party shall be liable for any indirect or consequential damages. Each Party's total
liability under this Agreement is limited to the fees paid in the twelve months before the
claim{% if tier == "enterprise" %}, or USD 1,000,000 if greater{% endif %}.
"""


@dataclass(frozen=True)
class ClauseForm:
    key: str = ""
    title: str = ""
    body: str = ""


def _errors(exc_or_problems: AccordError | list[tuple[str, str]]) -> Errors:
    if isinstance(exc_or_problems, AccordError):
        exc = exc_or_problems
        problems = ([("key", f"{exc.message}: choose another key")]
                    if exc.code == "clause_exists" else details_of(exc))
    else:
        problems = exc_or_problems
    return collect(problems, lambda w: w.split("[", 1)[0] if w.split("[", 1)[0] in FIELDS
                   else None, {n: f"c-{n}" for n in FIELDS})


def _version(number: str) -> int:
    if not number.isdigit() or len(number) > 8:
        raise NotFound("no such version", code="clause_version_not_found")
    return int(number)


def _form_page(request: Request, console: Console, form: ClauseForm, *, editing: bool,
               errors: Errors | None = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "drafting/clause_form.html", status_code=status_code, form=form,
                  editing=editing, errors=errors, **page_context(console, "clauses"))


@router.get("/clauses", response_class=HTMLResponse)
def clause_list(request: Request, rt: Rt, console: ConsoleUser) -> HTMLResponse:
    clauses = services.list_clauses(rt, console.principal)
    return render(request, "drafting/clauses.html", clauses=clauses,
                  **page_context(console, "clauses"))


@router.get("/clauses/new", response_class=HTMLResponse)
def clause_new(request: Request, console: ConsoleUser) -> HTMLResponse:
    console.principal.require(Permission.TEMPLATE_AUTHOR)
    return _form_page(request, console, ClauseForm(body=EXAMPLE_BODY), editing=False)


@router.post("/clauses", response_class=HTMLResponse, response_model=None)
def clause_create(request: Request, rt: Rt, console: ConsoleUser, *,
                  csrf_token: Annotated[str, Form()] = "",
                  key: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "",
                  body: Annotated[str, Form()] = "") -> Response:
    console.check_csrf(csrf_token)
    form = ClauseForm(key.strip(), title, body)
    try:
        services.create_clause(rt, console.principal, key=form.key, title=title, body=body)
    except AccordError as exc:
        if exc.status not in (409, 413, 422):
            raise
        return _form_page(request, console, form, editing=False, errors=_errors(exc),
                          status_code=problem_status(exc))
    return RedirectResponse(f"/console/clauses/{form.key}?notice=created", status_code=303)


@router.get("/clauses/{key}", response_class=HTMLResponse)
def clause_detail(request: Request, rt: Rt, console: ConsoleUser, key: str,
                  notice: Annotated[str, Query()] = "") -> HTMLResponse:
    clause = services.get_clause(rt, console.principal, key)
    return render(request, "drafting/clause.html", clause=clause, notice=NOTICES.get(notice),
                  **page_context(console, "clauses"))


@router.get("/clauses/{key}/edit", response_class=HTMLResponse)
def clause_edit_form(request: Request, rt: Rt, console: ConsoleUser,
                     key: str) -> HTMLResponse:
    console.principal.require(Permission.TEMPLATE_AUTHOR)
    clause = services.get_clause(rt, console.principal, key)
    form = ClauseForm(clause.key, clause.title, clause.versions[-1].body)
    return _form_page(request, console, form, editing=True)


@router.post("/clauses/{key}/edit", response_class=HTMLResponse, response_model=None)
def clause_edit(request: Request, rt: Rt, console: ConsoleUser, key: str, *,
                csrf_token: Annotated[str, Form()] = "",
                title: Annotated[str, Form()] = "",
                body: Annotated[str, Form()] = "") -> Response:
    console.check_csrf(csrf_token)
    form = ClauseForm(key, title, body)
    try:
        services.edit_clause(rt, console.principal, key, title=title, body=body)
    except AccordError as exc:
        if exc.status not in (409, 413, 422):
            raise
        return _form_page(request, console, form, editing=True, errors=_errors(exc),
                          status_code=problem_status(exc))
    return RedirectResponse(f"/console/clauses/{key}?notice=saved", status_code=303)


@router.post("/clauses/{key}/versions/{number}/{action}")
def clause_action(rt: Rt, console: ConsoleUser, key: str, number: str, action: str,
                  csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    step = ACTIONS.get(action)
    if step is None:
        raise NotFound("no such action", code="not_found")
    step(rt, console.principal, key, _version(number))
    return RedirectResponse(f"/console/clauses/{key}?notice={action}", status_code=303)


@router.get("/clauses/{key}/diff", response_class=HTMLResponse)
def clause_diff(request: Request, rt: Rt, console: ConsoleUser, key: str,
                from_: Annotated[str, Query(alias="from")] = "",
                to: Annotated[str, Query()] = "") -> HTMLResponse:
    clause = services.get_clause(rt, console.principal, key)
    a, b = version_pair([v.version for v in clause.versions], from_, to)
    found = (services.diff_clause(rt, console.principal, key, a, b)
             if a is not None and b is not None else None)
    return render(request, "drafting/diff.html", title=clause.title,
                  base=f"/console/clauses/{key}",
                  versions=[asdict(v) for v in clause.versions], a=a, b=b,
                  lines=diff_lines(found.lines) if found else [], compared=found is not None,
                  **page_context(console, "clauses"))
