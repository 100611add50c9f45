"""Console pages for templates: the list, authoring (create, edit as a new draft), one
version with its PDF preview, review and publication (submit, publish, reject, retire) and
the diff between two versions.

Thin: parse the form, call one drafting service, render or redirect. The services check
the role; the pages show only the actions the role grants. A 422 (or a 409 such as "that
key exists") re-renders the form with every problem next to its field, text kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.access import Permission
from accord.drafting import services
from accord.drafting.pages.common import (
    Errors,
    collect,
    compact_list,
    details_of,
    diff_lines,
    page_context,
    parse_json,
    pdf_response,
    pretty,
    problem_status,
    version_pair,
)
from accord.errors import AccordError, NotFound
from accord.web.console import Console, ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

KINDS = ("markdown", "html")  # pdf templates are uploaded through the API
ACTIONS = {"submit": services.submit_template, "publish": services.publish_template,
           "reject": services.reject_template, "retire": services.retire_template}
NOTICES = {
    "created": "Template created as draft version 1. Preview it, then submit it for review.",
    "saved": "Saved as a draft version. Preview it, then submit it for review.",
    "submit": "Submitted for review. Legal can now publish it or send it back to draft.",
    "publish": "Published: agents can now send it.",
    "reject": "Sent back to draft.",
    "retire": "Retired: it can no longer be used for new envelopes.",
}
FIELDS = ("key", "name", "kind", "source", "variables", "roles", "prefill", "sample_data",
          "rules")

EXAMPLE_SOURCE = """\
# Service order

**{{ provider_name }}** will provide {{ tier|title }} support to
**{{ customer.legal_name }}** from {{ start_date|date("long") }} for an annual fee of
{{ annual_fee|money }}.{% if onsite %} On-site visits are included.{% endif %}

| Product | Seats |
|---|---|
{% for row in products %}
| {{ row.product }} | {{ row.seats|number(0) }} |
{% endfor %}

Customer signature: [[signature:customer]] Date: [[date_signed:customer]]
"""
EXAMPLE_VARIABLES = [
    {"name": "customer.legal_name", "type": "text", "label": "Customer legal name",
     "max_length": 200},
    {"name": "provider_name", "type": "text", "label": "Provider",
     "default": "Brightline Support Services, Inc.", "max_length": 200},
    {"name": "tier", "type": "enum", "label": "Support tier",
     "options": ["standard", "premium"], "default": "standard"},
    {"name": "annual_fee", "type": "money", "label": "Annual fee", "currency": "USD",
     "min": 0},
    {"name": "start_date", "type": "date", "label": "Start date"},
    {"name": "onsite", "type": "boolean", "label": "On-site visits included",
     "default": False},
    {"name": "products", "type": "list", "label": "Covered products", "min": 1,
     "max_rows": 20, "columns": [
         {"name": "product", "type": "text", "label": "Product", "max_length": 120},
         {"name": "seats", "type": "number", "label": "Seats", "min": 1}]},
]
EXAMPLE_ROLES = [{"key": "customer", "name": "Customer", "type": "signer",
                  "routing_order": 1}]
EXAMPLE_PREFILL = {"customer.legal_name": "account.name", "tier": "account.support_tier"}
EXAMPLE_SAMPLE = {"customer": {"legal_name": "Example Corporation"},
                  "annual_fee": "12000.00", "start_date": "2026-01-01",
                  "products": [{"product": "Service Desk", "seats": 25}]}


@dataclass(frozen=True)
class TemplateForm:
    """The authoring form as typed (JSON fields as text, kept on errors)."""

    key: str = ""
    name: str = ""
    kind: str = "markdown"
    source: str = ""
    variables: str = "[]"
    roles: str = "[]"
    prefill: str = "{}"
    sample_data: str = ""
    rules: str = "[]"

    @classmethod
    def example(cls) -> TemplateForm:
        return cls(source=EXAMPLE_SOURCE, variables=compact_list(EXAMPLE_VARIABLES),
                   roles=compact_list(EXAMPLE_ROLES), prefill=pretty(EXAMPLE_PREFILL),
                   sample_data=pretty(EXAMPLE_SAMPLE))

    @classmethod
    def of(cls, v: services.TemplateVersionView, name: str) -> TemplateForm:
        return cls(key=v.key, name=name, kind=v.kind, source=v.source,
                   variables=compact_list(v.variables), roles=compact_list(v.roles),
                   prefill=pretty(v.prefill), sample_data=pretty(v.sample_data),
                   rules=pretty(v.rules) if v.rules else "[]")

    def parsed(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The JSON fields as values, and a problem for each that does not parse."""
        problems: list[tuple[str, str]] = []
        out: dict[str, Any] = {}
        for name, label, expect, blank in (
                ("variables", "Variables", list, []), ("roles", "Roles", list, []),
                ("prefill", "Prefill", dict, {}), ("sample_data", "Sample data", dict, None),
                ("rules", "Routing rules", list, [])):
            value, errs = parse_json(getattr(self, name), name, label, expect, blank=blank)
            out[name] = value
            problems += errs
        return out, problems


def place(where: str) -> str | None:
    """The form field a service problem belongs to (``roles[1].key`` -> roles,
    ``source line 3 [[signature:x]]`` and ``clause[liability]`` -> source)."""
    head = where.split("[", 1)[0].split(".", 1)[0].split(" ", 1)[0]
    if head == "clause":
        return "source"
    return head if head in FIELDS else None


def _ids(names: tuple[str, ...]) -> dict[str, str]:
    return {n: f"t-{n}" for n in names}


def form_errors(problems: list[tuple[str, str]]) -> Errors:
    return collect(problems, place, _ids(FIELDS))


def _problems(exc: AccordError) -> list[tuple[str, str]]:
    if exc.code == "template_exists":
        return [("key", f"{exc.message}: choose another key")]
    return details_of(exc)


def _version(number: str) -> int:
    if not number.isdigit() or len(number) > 8:
        raise NotFound("no such version", code="template_version_not_found")
    return int(number)


def _form_page(request: Request, console: Console, form: TemplateForm, *, editing: bool,
               errors: Errors | None = None, status_code: int = 200,
               base: int | None = None) -> HTMLResponse:
    return render(request, "drafting/template_form.html", status_code=status_code, form=form,
                  editing=editing, errors=errors, kinds=KINDS, base=base,
                  **page_context(console))


# -- the list and authoring ----------------------------------------------------------------


@router.get("/templates", response_class=HTMLResponse)
def template_list(request: Request, rt: Rt, console: ConsoleUser) -> HTMLResponse:
    templates = services.list_templates(rt, console.principal)
    return render(request, "drafting/templates.html", templates=templates,
                  **page_context(console))


@router.get("/templates/new", response_class=HTMLResponse)
def template_new(request: Request, console: ConsoleUser) -> HTMLResponse:
    console.principal.require(Permission.TEMPLATE_AUTHOR)
    return _form_page(request, console, TemplateForm.example(), editing=False)


@router.post("/templates", response_class=HTMLResponse, response_model=None)
def template_create(request: Request, rt: Rt, console: ConsoleUser, *,
                    csrf_token: Annotated[str, Form()] = "",
                    key: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                    kind: Annotated[str, Form()] = "markdown",
                    source: Annotated[str, Form()] = "",
                    variables: Annotated[str, Form()] = "",
                    roles: Annotated[str, Form()] = "",
                    prefill: Annotated[str, Form()] = "",
                    sample_data: Annotated[str, Form()] = "",
                    rules: Annotated[str, Form()] = "") -> Response:
    console.check_csrf(csrf_token)
    form = TemplateForm(key.strip(), name, kind, source, variables, roles, prefill,
                        sample_data, rules)
    values, problems = form.parsed()
    if kind not in KINDS:
        problems.append(("kind", "Choose Markdown or HTML"))
    if problems:
        return _form_page(request, console, form, editing=False,
                          errors=form_errors(problems), status_code=422)
    try:
        services.create_template(rt, console.principal, key=form.key, name=name, kind=kind,
                                 source=source, **values)
    except AccordError as exc:
        if exc.status not in (409, 413, 422):
            raise
        return _form_page(request, console, form, editing=False,
                          errors=form_errors(_problems(exc)), status_code=problem_status(exc))
    return RedirectResponse(f"/console/templates/{form.key}/versions/1?notice=created",
                            status_code=303)


@router.get("/templates/{key}", response_class=HTMLResponse)
def template_detail(request: Request, rt: Rt, console: ConsoleUser, key: str,
                    notice: Annotated[str, Query()] = "") -> HTMLResponse:
    tpl = services.get_template(rt, console.principal, key)
    return render(request, "drafting/template.html", tpl=tpl, notice=NOTICES.get(notice),
                  **page_context(console))


@router.get("/templates/{key}/edit", response_class=HTMLResponse)
def template_edit_form(request: Request, rt: Rt, console: ConsoleUser, key: str,
                       from_: Annotated[str, Query(alias="from")] = "") -> HTMLResponse:
    console.principal.require(Permission.TEMPLATE_AUTHOR)
    version = services.get_template_version(rt, console.principal, key,
                                            _version(from_) if from_ else None)
    return _form_page(request, console, TemplateForm.of(version, version.key), editing=True,
                      base=version.version)


@router.post("/templates/{key}/edit", response_class=HTMLResponse, response_model=None)
def template_edit(request: Request, rt: Rt, console: ConsoleUser, key: str, *,
                  csrf_token: Annotated[str, Form()] = "",
                  kind: Annotated[str, Form()] = "",
                  source: Annotated[str, Form()] = "",
                  variables: Annotated[str, Form()] = "",
                  roles: Annotated[str, Form()] = "",
                  prefill: Annotated[str, Form()] = "",
                  sample_data: Annotated[str, Form()] = "",
                  rules: Annotated[str, Form()] = "") -> Response:
    console.check_csrf(csrf_token)
    form = TemplateForm(key, key, kind, source, variables, roles, prefill, sample_data,
                        rules)
    values, problems = form.parsed()
    if problems:
        return _form_page(request, console, form, editing=True,
                          errors=form_errors(problems), status_code=422)
    try:
        view = services.edit_template(rt, console.principal, key, source=source, **values)
    except AccordError as exc:
        if exc.status not in (409, 413, 422):
            raise
        return _form_page(request, console, form, editing=True,
                          errors=form_errors(_problems(exc)), status_code=problem_status(exc))
    latest = view.versions[-1].version
    return RedirectResponse(f"/console/templates/{key}/versions/{latest}?notice=saved",
                            status_code=303)


# -- one version ---------------------------------------------------------------------------


@router.get("/templates/{key}/versions/{number}", response_class=HTMLResponse)
def template_version(request: Request, rt: Rt, console: ConsoleUser, key: str, number: str,
                     notice: Annotated[str, Query()] = "") -> HTMLResponse:
    version = services.get_template_version(rt, console.principal, key, _version(number))
    return render(request, "drafting/template_version.html", version=version,
                  notice=NOTICES.get(notice), variables_json=compact_list(version.variables),
                  sample_json=pretty(version.sample_data), prefill_json=pretty(version.prefill),
                  **page_context(console))


@router.get("/templates/{key}/versions/{number}/preview.pdf")
def template_preview(rt: Rt, console: ConsoleUser, key: str, number: str) -> Response:
    """The version rendered with its sample data, footed "Preview" (opens in a new tab)."""
    version = _version(number)
    pdf = services.preview(rt, console.principal, key=key, version=version)
    return pdf_response(pdf, f"{key}-v{version}-preview.pdf")


@router.post("/templates/{key}/versions/{number}/{action}")
def template_action(rt: Rt, console: ConsoleUser, key: str, number: str, action: str,
                    csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    step = ACTIONS.get(action)
    if step is None:
        raise NotFound("no such action", code="not_found")
    version = _version(number)
    step(rt, console.principal, key, version)
    return RedirectResponse(f"/console/templates/{key}/versions/{version}?notice={action}",
                            status_code=303)


@router.get("/templates/{key}/diff", response_class=HTMLResponse)
def template_diff(request: Request, rt: Rt, console: ConsoleUser, key: str,
                  from_: Annotated[str, Query(alias="from")] = "",
                  to: Annotated[str, Query()] = "") -> HTMLResponse:
    tpl = services.get_template(rt, console.principal, key)
    numbers = [v.version for v in tpl.versions]
    a, b = version_pair(numbers, from_, to)
    found = (services.diff_template(rt, console.principal, key, a, b)
             if a is not None and b is not None else None)
    return render(request, "drafting/diff.html", title=tpl.name, base=f"/console/templates/{key}",
                  versions=[asdict(v) for v in tpl.versions], a=a, b=b,
                  lines=diff_lines(found.lines) if found else [], compared=found is not None,
                  **page_context(console))
