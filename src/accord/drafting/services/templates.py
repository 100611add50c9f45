"""Use cases for templates: author, review, publish (pinning clauses), retire, read, compare,
and the organisation's approval setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accord.access import Principal
from accord.drafting import variables
from accord.drafting.domain import (
    Action,
    Issue,
    LifecycleError,
    VersionState,
    VersionStatus,
    VersionText,
    canonical_sha256,
    check_key,
    check_name,
    diff,
    edits_in_place,
    label,
    parse_roles,
    sha256_text,
)
from accord.drafting.models import Template, TemplateVersion
from accord.drafting.services.checks import TemplateContent, check_template
from accord.drafting.services.common import (
    Diff,
    TemplateSummary,
    TemplateVersionView,
    TemplateView,
    approval_required,
    commit_or_conflict,
    invalid,
    latest_published,
    lifecycle_error,
    load_template,
    pick,
    require,
    template_version_view,
    template_versions,
    template_view,
    visible,
)
from accord.drafting.services.render import RenderPlan, latest_pins, run
from accord.errors import Conflict, InvalidInput, NotFound
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
        source_sha256=blob if blob is not None else sha256_text(content.source),
        created_by=principal.user_id, created_at=rt.now())


def create_template(rt: Runtime, principal: Principal, *, key: str, name: str, kind: str,
                    source: str = "", pdf: bytes | None = None,
                    variables: list[Any] | None = None, roles: list[Any] | None = None,
                    prefill: dict[str, Any] | None = None,
                    sample_data: dict[str, Any] | None = None,
                    pdf_fields: list[Any] | None = None,
                    rules: list[Any] | None = None) -> TemplateView:
    """A new template with a draft version 1, validated as uploaded (one 422 listing every
    problem). ``sample_data`` defaults to plausible values generated from the variables.
    ``rules`` are routing rules (``envelopes.routing``) on its variables and roles."""
    require(principal, Action.AUTHOR)
    head = [i for i in (check_key(key), check_name(name, "name")) if i]
    content = TemplateContent(kind=kind, source=source, pdf=pdf, variables=variables or [],
                              roles=roles or [], prefill=prefill or {},
                              sample_data=sample_data, pdf_fields=pdf_fields or [],
                              rules=rules or [])
    with rt.db.uow() as uow:
        s = uow.session
        if head:  # report the content's problems too: every problem at once
            try:
                check_template(rt, s, principal.org_id, content)
            except InvalidInput as exc:
                head += [Issue(**d) for d in exc.details or []]
            raise invalid(head)
        if s.scalar(select(Template.id).where(Template.org_id == principal.org_id,
                                              Template.key == key)):
            raise Conflict(f"a template {key!r} exists", code="template_exists")
        checked = check_template(rt, s, principal.org_id, content)
        tpl = Template(org_id=principal.org_id, key=key, name=name.strip(), kind=kind,
                       created_at=rt.now())
        s.add(tpl)
        try:
            s.flush()
        except IntegrityError as exc:  # created concurrently
            raise Conflict(f"a template {key!r} exists", code="template_exists") from exc
        s.add(_version_row(rt, principal, content, checked.sample_data, template_id=tpl.id,
                           version=1))
        commit_or_conflict(s)
        return template_view(principal, tpl, template_versions(s, tpl.id))


def edit_template(rt: Runtime, principal: Principal, key: str, *, source: str | None = None,
                  pdf: bytes | None = None, variables: list[Any] | None = None,
                  roles: list[Any] | None = None, prefill: dict[str, Any] | None = None,
                  sample_data: dict[str, Any] | None = None,
                  pdf_fields: list[Any] | None = None,
                  rules: list[Any] | None = None) -> TemplateView:
    """Change what is given (the rest is carried over from the latest version; new
    variables without new ``sample_data`` get generated sample data). A draft is edited in
    place; a version in review, published or retired is left untouched and the edit becomes
    a new draft version. An edit that changes nothing makes no version."""
    require(principal, Action.AUTHOR)
    with rt.db.uow() as uow:
        s = uow.session
        tpl = load_template(s, principal.org_id, key)
        latest = template_versions(s, tpl.id)[-1]
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
            rules=list(latest.rules or []) if rules is None else rules)
        checked = check_template(rt, s, principal.org_id, content)
        row = _version_row(rt, principal, content, checked.sample_data, template_id=tpl.id,
                           version=latest.version + 1)
        if _same_content(row, latest):
            return template_view(principal, tpl, template_versions(s, tpl.id))
        if edits_in_place(VersionStatus(latest.status)):
            for attr in ("source", "pdf_blob", "variables", "roles", "pdf_fields", "prefill",
                         "rules", "sample_data", "source_sha256", "created_by"):
                setattr(latest, attr, getattr(row, attr))
        else:
            s.add(row)
        commit_or_conflict(s)
        return template_view(principal, tpl, template_versions(s, tpl.id))


def _same_content(a: TemplateVersion, b: TemplateVersion) -> bool:
    return all(getattr(a, attr) == getattr(b, attr) for attr in (
        "source", "pdf_blob", "variables", "roles", "pdf_fields", "prefill", "sample_data",
        "rules"))


# -- review and publication ----------------------------------------------------------------


def _transition(rt: Runtime, principal: Principal, key: str, version: int | None,
                step: str) -> TemplateView:
    with rt.db.uow() as uow:
        s = uow.session
        tpl = load_template(s, principal.org_id, key)
        row = pick(template_versions(s, tpl.id), version, principal, noun="template")
        state = VersionState(VersionStatus(row.status))
        try:
            if step == "submit":
                state.submit()
                row.submitted_at = rt.now()
            else:
                state.reject()
        except LifecycleError as exc:
            raise lifecycle_error(exc) from exc
        row.status = state.status.value
        commit_or_conflict(s)
        return template_view(principal, tpl, template_versions(s, tpl.id))


def submit_template(rt: Runtime, principal: Principal, key: str,
                    version: int | None = None) -> TemplateView:
    """Send a draft (default: the latest version) for review by legal."""
    require(principal, Action.AUTHOR)
    return _transition(rt, principal, key, version, "submit")


def reject_template(rt: Runtime, principal: Principal, key: str,
                    version: int | None = None) -> TemplateView:
    """Send a version in review back to draft."""
    require(principal, Action.PUBLISH)
    return _transition(rt, principal, key, version, "reject")


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
        tpl = load_template(s, principal.org_id, key)
        row = pick(template_versions(s, tpl.id), version, principal, noun="template")
        try:  # a dry run: the state changes in the second transaction
            VersionState(VersionStatus(row.status)).publish(
                approval_required=approval_required(s, principal.org_id))
        except LifecycleError as exc:
            raise lifecycle_error(exc) from exc
        content = TemplateContent(
            kind=tpl.kind, source=row.source,
            pdf=rt.blobs.get(row.pdf_blob) if row.pdf_blob else None,
            variables=list(row.variables), roles=list(row.roles), prefill=dict(row.prefill),
            sample_data=dict(row.sample_data), pdf_fields=list(row.pdf_fields),
            rules=list(row.rules or []))
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
        tpl = load_template(s, principal.org_id, key)
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
        state = VersionState(VersionStatus(row.status))
        try:
            state.publish(approval_required=approval_required(s, principal.org_id))
        except LifecycleError as exc:
            raise lifecycle_error(exc) from exc
        row.status = state.status.value
        row.pinned_clauses = prep.pins
        row.fields_sha256 = fields_sha
        row.published_by, row.published_at = principal.user_id, rt.now()
        commit_or_conflict(s)
        return template_view(principal, tpl, template_versions(s, tpl.id))


def retire_template(rt: Runtime, principal: Principal, key: str,
                    version: int | None = None) -> TemplateView:
    """Retire one published version, or (``version`` None) every published version: the
    template can no longer be used. Envelopes already made keep their document."""
    require(principal, Action.PUBLISH)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        tpl = load_template(s, principal.org_id, key)
        versions = template_versions(s, tpl.id)
        targets = ([pick(versions, version, principal, noun="template")]
                   if version is not None
                   else [v for v in versions if v.status == VersionStatus.PUBLISHED])
        if not targets:
            raise Conflict(f"template {key!r} has no published version",
                           code="version_not_published")
        for row in targets:
            state = VersionState(VersionStatus(row.status))
            try:
                state.retire()
            except LifecycleError as exc:
                raise lifecycle_error(exc) from exc
            row.status, row.retired_at = state.status.value, now
        commit_or_conflict(s)
        return template_view(principal, tpl, template_versions(s, tpl.id))


# -- reading -------------------------------------------------------------------------------


def list_templates(rt: Runtime, principal: Principal) -> list[TemplateSummary]:
    """The organisation's templates: agents and managers see those with a published
    version; legal, compliance and admins see every one."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        s = uow.session
        out = []
        for tpl in s.scalars(select(Template).where(Template.org_id == principal.org_id)
                             .order_by(Template.key)):
            versions = [v for v in template_versions(s, tpl.id)
                        if visible(principal, v.status)]
            if not versions:
                continue
            pub = latest_published(versions)
            out.append(TemplateSummary(key=tpl.key, name=tpl.name, kind=tpl.kind,
                                       latest_version=versions[-1].version,
                                       latest_status=versions[-1].status,
                                       published_version=pub.version if pub else None))
        return out


def get_template(rt: Runtime, principal: Principal, key: str) -> TemplateView:
    """A template with the versions the caller may see."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        tpl = load_template(uow.session, principal.org_id, key)
        view = template_view(principal, tpl, template_versions(uow.session, tpl.id))
        if not view.versions:
            raise NotFound(f"no template {key!r}", code="template_not_found")
        return view


def get_template_version(rt: Runtime, principal: Principal, key: str,
                         version: int | None = None) -> TemplateVersionView:
    """One version in full (default: the latest the caller may see)."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        tpl = load_template(uow.session, principal.org_id, key)
        row = pick(template_versions(uow.session, tpl.id), version, principal,
                   noun="template")
        return template_version_view(tpl, row)


def _text(key: str, v: TemplateVersion) -> VersionText:
    source = v.source if v.pdf_blob is None else f"PDF sha256 {v.pdf_blob}"
    return VersionText(label(key, v.version), source, list(v.variables), list(v.roles),
                       dict(v.prefill), list(v.pdf_fields), list(v.rules or []))


def diff_template(rt: Runtime, principal: Principal, key: str, from_version: int,
                  to_version: int) -> Diff:
    """A unified diff between two versions: source, then variables, roles, prefill (and
    PDF placements) as pretty JSON."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        tpl = load_template(uow.session, principal.org_id, key)
        versions = template_versions(uow.session, tpl.id)
        a = pick(versions, from_version, principal, noun="template")
        b = pick(versions, to_version, principal, noun="template")
        return Diff(key=key, from_version=a.version, to_version=b.version,
                    lines=diff(_text(key, a), _text(key, b)))


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
