"""Using published templates: preview a version with data, and create an envelope from
one (merge prefill and data, validate, render with the envelope id, place the fields)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.db import new_id
from accord.drafting import variables
from accord.drafting.contract import mapped_variables
from accord.drafting.domain import (
    Action,
    RecipientIssue,
    RoleSpec,
    VersionStatus,
    label,
    match_recipients,
    parse_roles,
)
from accord.drafting.models import Template, TemplateContractValues, TemplateVersion
from accord.drafting.prefill import merge_prefill
from accord.drafting.render.values import to_json
from accord.drafting.services.checks import pdf_field_request
from accord.drafting.services.common import (
    latest_published,
    load_template_version_by_id,
    pick,
    require,
    visible,
)
from accord.drafting.services.render import RenderPlan, plan_for, run
from accord.drafting.services.versions import TEMPLATES
from accord.envelopes import routing
from accord.envelopes import services as envelopes
from accord.envelopes.domain import FieldKind, RecipientRole
from accord.envelopes.placement import FieldRequest
from accord.envelopes.services import TemplateRef
from accord.errors import Conflict, InvalidInput, NotFound
from accord.runtime import Runtime


def _data_error(problems: Sequence[variables.Problem],
                recipient_issues: Sequence[RecipientIssue] = ()) -> InvalidInput:
    """Every problem at once: data problems first, then recipients (``recipients.<role>``)."""
    details = [{"variable": p.variable, "code": p.code, "message": p.message}
               for p in problems]
    details += [{"variable": f"recipients.{r.role}", "code": r.code, "message": r.message}
                for r in recipient_issues]
    if problems:
        code = "template_data_invalid"
    elif any(r.code == "role_recipient_missing" for r in recipient_issues):
        code = "role_recipient_missing"
    else:
        code = recipient_issues[0].code
    head = "; ".join(d["message"] for d in details[:3])
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return InvalidInput(f"{len(details)} problem(s): {head}{more}", code=code, details=details)


@dataclass(frozen=True)
class _Ready:
    """A version with validated data, read in one transaction, rendered after it."""

    tpl_key: str
    tpl_name: str
    version_id: str
    version: int
    source_sha256: str
    pins: dict[str, Any]
    roles: list[RoleSpec]
    context: dict[str, Any]
    plan: RenderPlan | None  # None: a pdf template
    pdf: bytes | None
    pdf_fields: list[Any]
    rules: list[Any] = field(default_factory=list)  # routing rules of the version
    rule_data: dict[str, Any] = field(default_factory=dict)  # the values they read
    recipients: dict[str, Any] = field(default_factory=dict)  # per role, blanks dropped
    contract: dict[str, Any] | None = None  # the version's contract section


def _ready(rt: Runtime, s: Session, tpl: Template, row: TemplateVersion,
           data: Mapping[str, Any], customer: Mapping[str, Any] | None,
           recipients: Mapping[str, Mapping[str, Any]] | None) -> _Ready:
    roles, _ = parse_roles(row.roles)
    specs = variables.parse_specs(row.variables)
    merged = merge_prefill(customer, row.prefill, data)
    context, problems = variables.validate(specs, merged)
    rules, _ = routing.parse_rules(row.rules or [])
    added = routing.added_roles(rules)  # a rule adds them: a recipient may be left out
    if recipients is not None:  # a blank recipient for such a role means "the default"
        recipients = {k: v for k, v in recipients.items() if k not in added
                      or str(v.get("name") or "").strip() or str(v.get("email") or "").strip()}
    rec_issues = (match_recipients(roles, recipients, added) if recipients is not None
                  else [])
    if problems or rec_issues:
        raise _data_error(problems, rec_issues)
    pdf = rt.blobs.get(row.pdf_blob) if row.pdf_blob else None
    return _Ready(tpl_key=tpl.key, tpl_name=tpl.name, version_id=row.id, version=row.version,
                  source_sha256=row.source_sha256 or "", pins=dict(row.pinned_clauses),
                  roles=roles, context=context,
                  plan=None if tpl.kind == "pdf" else plan_for(s, tpl, row), pdf=pdf,
                  pdf_fields=list(row.pdf_fields), rules=list(row.rules or []),
                  rule_data=routing.pick(to_json(context), routing.variables_read(rules)),
                  recipients=dict(recipients or {}), contract=row.contract)


def preview(rt: Runtime, principal: Principal, *, key: str | None = None,
            version: int | None = None, version_id: str | None = None,
            data: Mapping[str, Any] | None = None,
            customer: Mapping[str, Any] | None = None) -> bytes:
    """A PDF of a version (by ``version_id``, or ``key`` and ``version``; default the latest
    the caller may see) rendered with ``data`` (default: its sample data) and the customer
    record's prefill, footed "Preview". Invalid data: one 422 listing every problem."""
    require(principal, Action.READ)
    if (key is None) == (version_id is None):
        raise InvalidInput("give a template key or a version id", code="invalid_request")
    with rt.db.uow() as uow:
        s = uow.session
        if version_id is not None:
            tpl, row = load_template_version_by_id(s, principal.org_id, version_id)
            if not visible(principal, row.status):
                raise NotFound("no such template version", code="template_version_not_found")
        else:
            tpl = TEMPLATES.load(s, principal.org_id, str(key))
            row = pick(TEMPLATES.versions(s, tpl.id), version, principal, noun="template")
        ready = _ready(rt, s, tpl, row, row.sample_data if data is None else data, customer,
                       None)
    if ready.plan is None:
        return ready.pdf or b""
    return run(ready.plan, ready.context).pdf


def _fields(ready: _Ready, rendered_fields: Sequence[Any]) -> list[FieldRequest]:
    index = {r.key: i for i, r in enumerate(ready.roles)}
    if ready.plan is None:
        return [pdf_field_request(raw, index[raw["role"]]) for raw in ready.pdf_fields]
    out = []
    for f in rendered_fields:
        if f.role not in index:  # publishing checked the tags; a changed engine might not
            raise Conflict(f"the rendered document has a field for undeclared role "
                           f"{f.role!r}", code="template_field_role")
        out.append(FieldRequest(
            recipient=index[f.role], kind=FieldKind(f.kind), document=0, page=f.page, x=f.x,
            y=f.y, width=f.width, height=f.height, required=f.kind != FieldKind.CHECKBOX,
            label=(f.name or "").replace("_", " ")))
    return out


def _recipient(role: Any, given: Mapping[str, Any]) -> envelopes.RecipientInput:
    """The role's recipient, with the role's required signer authentication plus any
    factors the sender adds (and the phone, access code or questions they need)."""
    from accord.drafting.domain import role_factors

    factors = list(role_factors(role.auth))
    factors += [f for f in given.get("auth") or () if f not in factors]
    kba = tuple(envelopes.KbaInput(str(q.get("question", "")), str(q.get("answer", "")))
                for q in given.get("kba") or ())
    return envelopes.RecipientInput(
        name=str(given["name"]), email=str(given["email"]), role=RecipientRole(role.type),
        routing_order=role.routing_order, auth=tuple(factors), phone=given.get("phone"),
        access_code=given.get("access_code"), kba=kba,
        may_delegate=role.allow_delegation)


def _given(role: RoleSpec, recipients: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The role's recipient: the request's, else (for a role routing rules add) the role's
    default recipient, else no one (refused with 422 only if a rule does add the role)."""
    if role.key in recipients:
        return recipients[role.key]
    if role.default_recipient is not None:
        return {"name": role.default_recipient[0], "email": role.default_recipient[1]}
    return {"name": "", "email": ""}


def create_from_template(rt: Runtime, principal: Principal, *, template_key: str,
                         version: int | None = None, data: Mapping[str, Any],
                         recipients: Mapping[str, Mapping[str, Any]],
                         customer: Mapping[str, Any] | None = None,
                         subject: str | None = None, message: str = "", send: bool = False,
                         expires_in_days: int = 120,
                         actor: envelopes.Actor | None = None) -> str:
    """An envelope from a published version (default: the latest one): prefill from the
    ``customer`` record, then the explicit ``data``; every problem with the data and the
    recipients (one per role, ``{role: {"name", "email"}}``) is reported at once (422
    ``template_data_invalid`` / ``role_recipient_missing``). The document is rendered with
    the envelope's id; its fields come from the tags (or the PDF placements). The envelope
    records the template version, its label, source hash and pinned clauses. Returns the
    envelope id."""
    require(principal, Action.USE)
    principal.require(Permission.ENVELOPE_SEND)
    with rt.db.uow() as uow:
        s = uow.session
        tpl = TEMPLATES.load(s, principal.org_id, template_key)
        versions = TEMPLATES.versions(s, tpl.id)
        if version is None:
            row = latest_published(versions)
            if row is None:
                raise Conflict(f"template {template_key!r} has no published version",
                               code="template_not_published")
        else:
            row = next((v for v in versions if v.version == version
                        and visible(principal, v.status)), None)
            if row is None:
                raise NotFound(f"template {template_key!r} has no version {version}",
                               code="template_version_not_found")
            if row.status != VersionStatus.PUBLISHED:
                raise Conflict(f"version {version} is {row.status}; only published versions "
                               "make envelopes", code="template_version_not_published")
        ready = _ready(rt, s, tpl, row, data, customer, recipients)
    env_id = new_id()
    if ready.plan is None:
        document, fields = ready.pdf or b"", _fields(ready, ())
    else:
        rendered = run(ready.plan, ready.context, envelope_id=env_id)
        document, fields = rendered.pdf, _fields(ready, rendered.fields)
    tag = label(ready.tpl_key, ready.version)
    with rt.db.uow() as uow:  # the envelope and what it carries for its contract: one commit
        envelopes.create(
            rt, principal, session=uow.session, subject=subject or ready.tpl_name,
            message=message,
            documents=[envelopes.DocumentInput(f"{ready.tpl_name}.pdf", document)],
            recipients=[replace(_recipient(r, _given(r, ready.recipients)), key=r.key)
                        for r in ready.roles],
            fields=fields, expires_in_days=expires_in_days, actor=actor, envelope_id=env_id,
            template=TemplateRef(version_id=ready.version_id, label=tag,
                                 sha256=ready.source_sha256, clauses=ready.pins),
            rules=ready.rules, data=ready.rule_data, send=send)
        keep_contract_values(uow.session, envelope_id=env_id, org_id=principal.org_id,
                             version_id=ready.version_id, section=ready.contract,
                             context=ready.context, now=rt.now())
        envelopes.commit_or_conflict(uow.session)
    return env_id


def keep_contract_values(session: Session, *, envelope_id: str, org_id: str,
                         version_id: str, section: Mapping[str, Any] | None,
                         context: Mapping[str, Any], now: datetime) -> None:
    """With the envelope, in its transaction: what it carries for its contract record
    (nothing if the version has no contract section)."""
    if section is None:
        return
    session.add(TemplateContractValues(
        envelope_id=envelope_id, org_id=org_id, template_version_id=version_id,
        contract=dict(section), created_at=now,
        values=routing.pick(to_json(dict(context)), mapped_variables(section))))


@dataclass(frozen=True)
class ContractValues:
    """What an envelope made from a template with a ``contract`` section carries for its
    contract record (``contracts`` reads it when the envelope completes)."""

    template_version_id: str
    type: str
    fields: dict[str, str]  # contract field -> variable
    values: dict[str, Any]  # variable -> value (JSON), the mapped ones only
    retention: str | None = None  # the retention policy the template names, if any


def contract_values_of(session: Session, envelope_id: str) -> ContractValues | None:
    """The contract section and mapped values of an envelope (None: not from a template
    with a contract section)."""
    row = session.get(TemplateContractValues, envelope_id)
    if row is None:
        return None
    section = dict(row.contract or {})
    return ContractValues(template_version_id=row.template_version_id,
                          type=str(section.get("type") or "support_services"),
                          fields=dict(section.get("fields") or {}), values=dict(row.values),
                          retention=section.get("retention") or None)
