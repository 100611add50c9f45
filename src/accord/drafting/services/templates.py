"""Use cases for templates: author, review, publish (pinning clauses), retire, read, compare,
and the organisation's approval setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accord.access import Principal
from accord.drafting import variables
from accord.drafting.contract import normalised
from accord.drafting.domain import (
    Action,
    Issue,
    Step,
    VersionStatus,
    VersionText,
    canonical_sha256,
    check_key,
    check_name,
    label,
    parse_roles,
    sha256_text,
)
from accord.drafting.models import Template, TemplateVersion
from accord.drafting.services import versions
from accord.drafting.services.checks import TemplateContent, check_template
from accord.drafting.services.common import (
    Diff,
    TemplateSummary,
    TemplateVersionView,
    TemplateView,
    approval_required,
    commit_or_conflict,
    invalid,
    pick,
    require,
    template_version_view,
    template_view,
)
from accord.drafting.services.render import RenderPlan, latest_pins, run
from accord.drafting.services.versions import TEMPLATES
from accord.errors import Conflict, InvalidInput
from accord.runtime import Runtime

# -- authoring -----------------------------------------------------------------------------


def _version_row(rt: Runtime, principal: Principal, content: TemplateContent,
                 sample: dict[str, Any], *, template_id: str, version: int) -> TemplateVersion:
    blob = rt.blobs.put(content.pdf) if content.pdf is not None else None
    return TemplateVersion(
        org_id=principal.org_id, template_id=template_id, version=version,
        status=VersionStatus.DRAFT.value, source=content.source if blob is None else "",
        pdf_blob=blob, variables=list(content.variables), roles=list(content.roles),
        pdf_fields=list(content.pdf_fields), prefill=dict(content.prefill),
        rules=list(content.rules), sample_data=sample, pinned_clauses={},
        contract=normalised(content.contract),
        source_sha256=blob if blob is not None else sha256_text(content.source),
        created_by=principal.user_id, created_at=rt.now())


def create_template(rt: Runtime, principal: Principal, *, key: str, name: str, kind: str,
                    source: str = "", pdf: bytes | None = None,
                    variables: list[Any] | None = None, roles: list[Any] | None = None,
                    prefill: dict[str, Any] | None = None,
                    sample_data: dict[str, Any] | None = None,
                    pdf_fields: list[Any] | None = None,
                    rules: list[Any] | None = None,
                    contract: dict[str, Any] | None = None) -> TemplateView:
    """A new template with a draft version 1, validated as uploaded (one 422 listing every
    problem). ``sample_data`` defaults to plausible values generated from the variables.
    ``rules`` are routing rules (``envelopes.routing``) on its variables and roles;
    ``contract`` the contract section (``drafting.contract``): the contract type its
    envelopes file and which variables fill which contract fields."""
    require(principal, Action.AUTHOR)
    head = [i for i in (check_key(key), check_name(name, "name")) if i]
    content = TemplateContent(kind=kind, source=source, pdf=pdf, variables=variables or [],
                              roles=roles or [], prefill=prefill or {},
                              sample_data=sample_data, pdf_fields=pdf_fields or [],
                              rules=rules or [], contract=contract)
    with rt.db.uow() as uow:
        s = uow.session
        if head:  # report the content's problems too: every problem at once
            try:
                check_template(rt, s, principal.org_id, content)
            except InvalidInput as exc:
                head += [Issue(**d) for d in exc.details or []]
            raise invalid(head)
        TEMPLATES.ensure_new(s, principal.org_id, key)
        checked = check_template(rt, s, principal.org_id, content)
        tpl = Template(org_id=principal.org_id, key=key, name=name.strip(), kind=kind,
                       created_at=rt.now())
        TEMPLATES.insert(s, tpl)
        s.add(_version_row(rt, principal, content, checked.sample_data, template_id=tpl.id,
                           version=1))
        commit_or_conflict(s)
        return template_view(principal, tpl, TEMPLATES.versions(s, tpl.id))


def edit_template(rt: Runtime, principal: Principal, key: str, *, source: str | None = None,
                  pdf: bytes | None = None, variables: list[Any] | None = None,
                  roles: list[Any] | None = None, prefill: dict[str, Any] | None = None,
                  sample_data: dict[str, Any] | None = None,
                  pdf_fields: list[Any] | None = None,
                  rules: list[Any] | None = None,
                  contract: dict[str, Any] | None = None) -> TemplateView:
    """Change what is given (the rest is carried over from the latest version; new
    variables without new ``sample_data`` get generated sample data). A draft is edited in
    place; a version in review, published or retired is left untouched and the edit becomes
    a new draft version. An edit that changes nothing makes no version."""
    require(principal, Action.AUTHOR)
    with rt.db.uow() as uow:
        s = uow.session
        tpl = TEMPLATES.load(s, principal.org_id, key)
        latest = TEMPLATES.versions(s, tpl.id)[-1]
        old_pdf = rt.blobs.get(latest.pdf_blob) if latest.pdf_blob and pdf is None else None
        content = TemplateContent(
            kind=tpl.kind, source=latest.source if source is None else source,
            pdf=pdf if pdf is not None else old_pdf,
            variables=list(latest.variables) if variables is None else variables,
            roles=list(latest.roles) if roles is None else roles,
            prefill=dict(latest.prefill) if prefill is None else prefill,
            sample_data=sample_data if sample_data is not None else (
                None if variables is not None else dict(latest.sample_data)),
            pdf_fields=list(latest.pdf_fields) if pdf_fields is None else pdf_fields,
            rules=list(latest.rules or []) if rules is None else rules,
            contract=latest.contract if contract is None else contract)
        checked = check_template(rt, s, principal.org_id, content)
        row = _version_row(rt, principal, content, checked.sample_data, template_id=tpl.id,
                           version=latest.version + 1)
        if _same_content(row, latest):
            return template_view(principal, tpl, TEMPLATES.versions(s, tpl.id))
        versions.revise(s, latest, row, (*_CONTENT, "source_sha256", "created_by"))
        commit_or_conflict(s)
        return template_view(principal, tpl, TEMPLATES.versions(s, tpl.id))


# what an author gives a version
_CONTENT = ("source", "pdf_blob", "variables", "roles", "pdf_fields", "prefill", "sample_data",
            "rules", "contract")


def _same_content(a: TemplateVersion, b: TemplateVersion) -> bool:
    return all(getattr(a, attr) == getattr(b, attr) for attr in _CONTENT)


# -- review and publication ----------------------------------------------------------------


def submit_template(rt: Runtime, principal: Principal, key: str,
                    version: int | None = None) -> TemplateView:
    """Send a draft (default: the latest version) for review by legal."""
    require(principal, Action.AUTHOR)
    return versions.transition(rt, principal, TEMPLATES, key, version, Step.SUBMIT,
                               template_view)


def reject_template(rt: Runtime, principal: Principal, key: str,
                    version: int | None = None) -> TemplateView:
    """Send a version in review back to draft."""
    require(principal, Action.PUBLISH)
    return versions.transition(rt, principal, TEMPLATES, key, version, Step.REJECT,
                               template_view)


@dataclass(frozen=True)
class _Prepared:
    version_id: str
    row_version: int
    pins: dict[str, Any]
    plan: RenderPlan | None  # None for pdf templates
    context: dict[str, Any]
    fields_sha256: str | None


def _prepare_publish(rt: Runtime, principal: Principal, key: str,
                     version: int | None) -> _Prepared:
    with rt.db.uow() as uow:
        s = uow.session
        tpl = TEMPLATES.load(s, principal.org_id, key)
        row = pick(TEMPLATES.versions(s, tpl.id), version, principal, noun="template")
        # a dry run: the state changes in the second transaction
        versions.state_after(row, Step.PUBLISH,
                             approval=approval_required(s, principal.org_id))
        content = TemplateContent(
            kind=tpl.kind, source=row.source,
            pdf=rt.blobs.get(row.pdf_blob) if row.pdf_blob else None,
            variables=list(row.variables), roles=list(row.roles), prefill=dict(row.prefill),
            sample_data=dict(row.sample_data), pdf_fields=list(row.pdf_fields),
            rules=list(row.rules or []), contract=row.contract)
        checked = check_template(rt, s, principal.org_id, content)
        if tpl.kind == "pdf":
            return _Prepared(row.id, row.row_version, {}, None, {},
                             canonical_sha256(row.pdf_fields))
        roles, _ = parse_roles(row.roles)
        bodies, pins, issues = latest_pins(s, principal.org_id, checked.clause_keys, roles)
        if issues:
            raise invalid(issues)
        context, problems = variables.validate(checked.specs, checked.sample_data)
        if problems:  # cannot happen after check_template; kept for safety
            raise invalid([Issue(f"sample_data[{p.variable}]", p.code, p.message)
                           for p in problems])
        plan = RenderPlan(title=tpl.name, kind=tpl.kind, source=row.source, clauses=bodies,
                          pins=pins)
        return _Prepared(row.id, row.row_version, pins, plan, context, None)


def publish_template(rt: Runtime, principal: Principal, key: str,
                     version: int | None = None) -> TemplateView:
    """Approve and publish a version (default: the latest). Pins the latest published
    version of every clause it uses, renders it with its sample data to record
    ``fields_sha256``; from then on the version never changes."""
    require(principal, Action.PUBLISH)
    prep = _prepare_publish(rt, principal, key, version)
    fields_sha = prep.fields_sha256
    if prep.plan is not None:
        fields_sha = run(prep.plan, prep.context).fields_sha256
    with rt.db.uow() as uow:
        s = uow.session
        tpl = TEMPLATES.load(s, principal.org_id, key)
        row = s.get(TemplateVersion, prep.version_id)
        if row is None or row.row_version != prep.row_version:
            raise Conflict("the template version changed while it was being published; "
                           "try again", code="concurrent_update")
        if prep.plan is not None:
            roles, _ = parse_roles(row.roles)
            _bodies, pins, _issues = latest_pins(s, principal.org_id, list(prep.pins), roles)
            if pins != prep.pins:
                raise Conflict("a clause was published or retired meanwhile; try again",
                               code="concurrent_update")
        versions.advance(row, Step.PUBLISH, principal, rt.now(),
                         approval=approval_required(s, principal.org_id))
        row.pinned_clauses = prep.pins
        row.fields_sha256 = fields_sha
        commit_or_conflict(s)
        return template_view(principal, tpl, TEMPLATES.versions(s, tpl.id))


def retire_template(rt: Runtime, principal: Principal, key: str,
                    version: int | None = None) -> TemplateView:
    """Retire one published version, or (``version`` None) every published version: the
    template can no longer be used. Envelopes already made keep their document."""
    require(principal, Action.PUBLISH)
    return versions.retire(rt, principal, TEMPLATES, key, version, template_view)


# -- reading -------------------------------------------------------------------------------


def _summary(tpl: Template, seen: list[TemplateVersion],
             pub: TemplateVersion | None) -> TemplateSummary:
    return TemplateSummary(key=tpl.key, name=tpl.name, kind=tpl.kind,
                           latest_version=seen[-1].version, latest_status=seen[-1].status,
                           published_version=pub.version if pub else None)


def list_templates(rt: Runtime, principal: Principal) -> list[TemplateSummary]:
    """The organisation's templates: agents and managers see those with a published
    version; legal, compliance and admins see every one."""
    require(principal, Action.READ)
    return versions.summaries(rt, principal, TEMPLATES, _summary)


def get_template(rt: Runtime, principal: Principal, key: str) -> TemplateView:
    """A template with the versions the caller may see."""
    require(principal, Action.READ)
    return versions.get(rt, principal, TEMPLATES, key, template_view)


def get_template_version(rt: Runtime, principal: Principal, key: str,
                         version: int | None = None) -> TemplateVersionView:
    """One version in full (default: the latest the caller may see)."""
    require(principal, Action.READ)
    return versions.get_version(rt, principal, TEMPLATES, key, version, template_version_view)


def _text(key: str, v: TemplateVersion) -> VersionText:
    source = v.source if v.pdf_blob is None else f"PDF sha256 {v.pdf_blob}"
    return VersionText(label(key, v.version), source, list(v.variables), list(v.roles),
                       dict(v.prefill), list(v.pdf_fields), list(v.rules or []))


def diff_template(rt: Runtime, principal: Principal, key: str, from_version: int,
                  to_version: int) -> Diff:
    """A unified diff between two versions: source, then variables, roles, prefill (and
    PDF placements) as pretty JSON."""
    require(principal, Action.READ)
    return versions.compare(rt, principal, TEMPLATES, key, from_version, to_version, _text)


# -- the organisation's setting ------------------------------------------------------------


@dataclass(frozen=True)
class DraftingSettings:
    template_approval_required: bool


def get_settings(rt: Runtime, principal: Principal) -> DraftingSettings:
    """Whether publishing a template or clause needs a review first (default: yes)."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        return DraftingSettings(approval_required(uow.session, principal.org_id))


def set_settings(rt: Runtime, principal: Principal, *,
                 template_approval_required: bool) -> DraftingSettings:
    """Admins only; the organisation's settings service does the writing."""
    from accord.accounts.services import admin as services_admin

    require(principal, Action.CONFIGURE)
    done = services_admin.update_settings(
        rt, principal, template_approval_required=template_approval_required)
    return DraftingSettings(done.template_approval_required)
