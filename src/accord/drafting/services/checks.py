"""Checking what authors upload: every problem with a template or clause version is
collected and reported at once (one 422 with ``details``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from accord.documents.limits import PdfLimits
from accord.documents.pdf import DocumentError, PdfInfo, inspect_pdf
from accord.drafting import render, variables
from accord.drafting.contract import check_contract
from accord.drafting.domain import (
    KINDS,
    MAX_PDF_FIELDS,
    MAX_SOURCE_CHARS,
    Issue,
    RoleSpec,
    check_pdf_field,
    check_prefill,
    check_tag,
    parse_roles,
)
from accord.drafting.models import ClauseVersion
from accord.drafting.services.common import clauses_by_key, invalid
from accord.drafting.services.versions import CLAUSES
from accord.envelopes import routing
from accord.envelopes.domain import FieldKind
from accord.envelopes.placement import Box, FieldRequest, place
from accord.errors import InvalidInput
from accord.runtime import Runtime


@dataclass(frozen=True)
class TemplateContent:
    """Everything a template version holds that an author supplies."""

    kind: str
    source: str = ""
    pdf: bytes | None = None
    variables: list[Any] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)
    prefill: dict[str, Any] = field(default_factory=dict)
    sample_data: dict[str, Any] | None = None  # None: generated from the variables
    pdf_fields: list[Any] = field(default_factory=list)
    rules: list[Any] = field(default_factory=list)  # routing rules (envelopes.routing)
    contract: dict[str, Any] | None = None  # the contract section (drafting.contract)


@dataclass(frozen=True)
class Checked:
    specs: list[variables.VariableSpec]
    roles: list[RoleSpec]
    clause_keys: tuple[str, ...]
    sample_data: dict[str, Any]
    pdf_info: PdfInfo | None


def source_issue(exc: render.TemplateError, where: str) -> Issue:
    """The engine's message already names the line."""
    return Issue(where, exc.code, f"{where}: {exc.message}")


def check_clause_body(body: str) -> list[Issue]:
    """A clause body: a sandboxed source that includes no other clause."""
    if not body.strip() or len(body) > MAX_SOURCE_CHARS:
        return [Issue("body", "clause_body_invalid",
                      f"a clause body has 1-{MAX_SOURCE_CHARS} characters")]
    try:
        info = render.check_clause(body)
    except render.TemplateError as exc:
        return [source_issue(exc, "body")]
    if info.clause_keys:  # check_clause refuses these already; kept as a second line
        return [Issue("body", "clause_nested", "a clause cannot include other clauses "
                      f"({', '.join(info.clause_keys)})")]
    return []


def body_for_checks(session: Session, clause_id: str) -> ClauseVersion | None:
    """The clause version a new template will most likely pin: the latest published one,
    else the latest of any state."""
    versions = CLAUSES.versions(session, clause_id)
    published = [v for v in versions if v.status == "published"]
    chosen = published or versions
    return chosen[-1] if chosen else None


def _check_specs(raw: list[Any]) -> tuple[list[variables.VariableSpec], list[Issue], bool]:
    try:
        return variables.parse_specs(raw), [], True
    except variables.SpecError as exc:
        return [], [Issue(p.variable if p.variable.startswith("variables")
                          else f"variables[{p.variable}]", p.code, f"{p.variable}: {p.message}")
                    for p in exc.problems], False


def _check_source(session: Session, org_id: str, content: TemplateContent,
                  roles: Sequence[RoleSpec]) -> tuple[tuple[str, ...], list[Issue], str | None]:
    """(clause keys, problems, the TemplateError code if the source itself failed)."""
    if content.pdf is not None or content.pdf_fields:
        return (), [Issue("source", "template_kind_mismatch", f"a {content.kind} template "
                          "has a source, not a PDF or pdf_fields")], None
    if not content.source.strip() or len(content.source) > MAX_SOURCE_CHARS:
        return (), [Issue("source", "template_source_invalid",
                          f"the source has 1-{MAX_SOURCE_CHARS} characters")], None
    try:
        info = render.check_source(content.source, content.kind)
    except render.TemplateError as exc:
        return (), [source_issue(exc, "source")], exc.code
    issues = []
    for tag in info.tags:
        problem = check_tag(tag.role, tag.kind, roles, f"source line {tag.line} {tag.text}")
        if problem and roles:
            issues.append(problem)
    known = clauses_by_key(session, org_id, info.clause_keys)
    for key in info.clause_keys:
        clause = known.get(key)
        if clause is None:
            issues.append(Issue(f"clause[{key}]", "clause_unknown", f"the source includes "
                                f"clause {key!r}, which this organisation does not have"))
            continue
        latest = body_for_checks(session, clause.id)
        if latest is not None:
            issues.extend(clause_tag_issues(key, latest.body, roles))
    return info.clause_keys, issues, None


def clause_tag_issues(key: str, body: str, roles: Sequence[RoleSpec]) -> list[Issue]:
    """The field tags inside a clause must name the template's acting roles too."""
    try:
        info = render.check_clause(body)
    except render.TemplateError as exc:
        return [source_issue(exc, f"clause[{key}]")]
    issues = []
    for tag in info.tags:
        problem = check_tag(tag.role, tag.kind, roles, f"clause[{key}] {tag.text}")
        if problem and roles:
            issues.append(problem)
    return issues


def _check_pdf(rt: Runtime, content: TemplateContent,
               roles: Sequence[RoleSpec]) -> tuple[PdfInfo | None, list[Issue]]:
    if content.source.strip():
        return None, [Issue("source", "template_kind_mismatch",
                            "a pdf template has a PDF, not a source")]
    if content.pdf is None:
        return None, [Issue("content", "template_pdf_missing", "a pdf template needs the PDF")]
    try:
        info = inspect_pdf(content.pdf, max_bytes=rt.settings.max_document_bytes,
                           max_pages=rt.settings.max_document_pages,
                           limits=PdfLimits.from_settings(rt.settings))
    except DocumentError as exc:
        return None, [Issue("content", exc.code, exc.message)]
    issues: list[Issue] = []
    if len(content.pdf_fields) > MAX_PDF_FIELDS:
        return info, [Issue("pdf_fields", "too_many_fields", f"at most {MAX_PDF_FIELDS}")]
    for i, raw in enumerate(content.pdf_fields):
        shape = check_pdf_field(f"pdf_fields[{i}]", raw, roles)
        issues.extend(shape)
        if shape:
            continue
        try:
            place(pdf_field_request(raw, 0), i, content.pdf, info.page_sizes)
        except InvalidInput as exc:
            issues.append(Issue(f"pdf_fields[{i}]", exc.code,
                                exc.message.replace(f"fields[{i}]", f"pdf_fields[{i}]", 1)))
    if not content.pdf_fields:
        issues.append(Issue("pdf_fields", "pdf_fields_missing",
                            "a pdf template places at least one field"))
    return info, issues


def pdf_field_request(raw: Mapping[str, Any], recipient: int) -> FieldRequest:
    """A stored PDF placement as a field request for the recipient index of its role."""
    return FieldRequest(
        recipient=recipient, kind=FieldKind(raw["kind"]), document=0, page=raw.get("page"),
        x=raw.get("x"), y=raw.get("y"), width=raw.get("width"), height=raw.get("height"),
        anchor=raw.get("anchor"), anchor_x_offset=float(raw.get("anchor_x_offset") or 0),
        anchor_y_offset=float(raw.get("anchor_y_offset") or 0),
        required=bool(raw.get("required", True)), label=str(raw.get("label") or ""))


def place_pdf_fields(pdf: bytes, page_sizes: list[tuple[float, float]],
                     raw_fields: Sequence[Mapping[str, Any]],
                     role_index: Mapping[str, int]) -> list[tuple[FieldRequest, list[Box]]]:
    return [(req, place(req, i, pdf, page_sizes)) for i, raw in enumerate(raw_fields)
            for req in [pdf_field_request(raw, role_index[raw["role"]])]]


def rule_issues(content: TemplateContent, roles: Sequence[RoleSpec],
                specs: Sequence[variables.VariableSpec] | None) -> list[Issue]:
    """Routing rules: their shape, and only declared roles and variables (values must suit
    the variable's type: an enum's options, numbers for numbers and money)."""
    declared = {str(r.get("key")): str(r.get("type", "signer")) for r in content.roles
                if isinstance(r, Mapping)}
    declared.update({r.key: r.type for r in roles})
    known = None if specs is None else {
        s.name: routing.VarInfo(s.type, tuple(s.options)) for s in specs}
    _rules, problems = routing.parse_rules(content.rules, roles=declared, variables=known)
    return [Issue(p.field, p.code, p.message) for p in problems]


def check_template(rt: Runtime, session: Session, org_id: str,
                   content: TemplateContent) -> Checked:
    """Validate a template version as uploaded; raise one InvalidInput with every problem."""
    issues: list[Issue] = []
    if content.kind not in KINDS:
        raise invalid([Issue("kind", "template_kind_invalid",
                             f"kind must be one of {sorted(KINDS)}")])
    roles, role_issues = parse_roles(content.roles)
    issues.extend(role_issues)
    specs, spec_issues, specs_ok = _check_specs(content.variables)
    issues.extend(spec_issues)
    source_code: str | None = None
    clause_keys: tuple[str, ...] = ()
    pdf_info: PdfInfo | None = None
    if content.kind == "pdf":
        pdf_info, more = _check_pdf(rt, content, roles)
    else:
        clause_keys, more, source_code = _check_source(session, org_id, content, roles)
    issues.extend(more)
    declared = ({s.name for s in specs} if specs_ok else
                {str(v.get("name")) for v in content.variables if isinstance(v, Mapping)})
    issues.extend(check_prefill(content.prefill, declared))
    issues.extend(rule_issues(content, roles, specs if specs_ok else None))
    if specs_ok:
        issues.extend(check_contract(content.contract, {s.name: s.type for s in specs}))
    sample: dict[str, Any] = dict(content.sample_data or {})
    if specs_ok:
        if content.sample_data is None:
            sample = variables.sample_data(specs)
        _context, problems = variables.validate(specs, sample)
        issues.extend(Issue(f"sample_data.{p.variable}", p.code,
                            f"sample_data.{p.variable}: {p.message}") for p in problems)
    if issues:
        raise invalid(issues, code=source_code)
    return Checked(specs=specs, roles=roles, clause_keys=clause_keys, sample_data=sample,
                   pdf_info=pdf_info)
