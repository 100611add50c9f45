"""Loading the shipped example clauses and templates into an organisation, published."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accord.accounts.services import org_of_user
from accord.drafting import variables
from accord.drafting.contract import normalised
from accord.drafting.domain import VersionStatus, sha256_text
from accord.drafting.examples import load_examples
from accord.drafting.models import Clause, ClauseVersion, Template, TemplateVersion
from accord.drafting.services.checks import TemplateContent, check_clause_body, check_template
from accord.drafting.services.common import invalid
from accord.drafting.services.render import RenderPlan, latest_pins, run
from accord.errors import InvalidInput
from accord.runtime import Runtime


def _seed_clauses(rt: Runtime, org_id: str, publisher_user_id: str) -> None:
    examples = load_examples()
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        existing = set(s.scalars(select(Clause.key).where(Clause.org_id == org_id)))
        for seed in examples.clauses:
            if seed.key in existing:
                continue
            problems = check_clause_body(seed.body)
            if problems:
                raise invalid(problems, noun="clause")
            clause = Clause(org_id=org_id, key=seed.key, title=seed.title, created_at=now)
            s.add(clause)
            try:
                s.flush()
            except IntegrityError:  # another process is seeding: it will finish the job
                return
            s.add(ClauseVersion(
                org_id=org_id, clause_id=clause.id, version=1,
                status=VersionStatus.PUBLISHED.value, body=seed.body,
                body_sha256=sha256_text(seed.body), created_by=publisher_user_id,
                created_at=now, submitted_at=now, published_by=publisher_user_id,
                published_at=now))
        uow.commit()


def seed_examples(rt: Runtime, org_id: str, *, publisher_user_id: str) -> None:
    """Publish the shipped example clauses and templates (``drafting.examples``) in the
    organisation, as version 1 published by ``publisher_user_id``. Idempotent: keys that
    exist are left alone."""
    if org_of_user(rt, publisher_user_id) != org_id:
        raise InvalidInput("the publisher must belong to the organisation",
                           code="publisher_not_in_organisation")
    _seed_clauses(rt, org_id, publisher_user_id)
    for seed in load_examples().templates:
        with rt.db.uow() as uow:
            s = uow.session
            if s.scalar(select(Template.id).where(Template.org_id == org_id,
                                                  Template.key == seed.key)):
                continue
            content = TemplateContent(
                kind=seed.kind, source=seed.source, variables=list(seed.variables),
                roles=list(seed.roles), prefill=dict(seed.prefill),
                sample_data=dict(seed.sample_data), rules=list(seed.rules),
                contract=seed.contract)
            checked = check_template(rt, s, org_id, content)
            bodies, pins, issues = latest_pins(s, org_id, checked.clause_keys, checked.roles)
            if issues:
                raise invalid(issues)
            context, _problems = variables.validate(checked.specs, checked.sample_data)
        rendered = run(RenderPlan(title=seed.name, kind=seed.kind, source=seed.source,
                                  clauses=bodies, pins=pins), context)
        now = rt.now()
        with rt.db.uow() as uow:
            s = uow.session
            tpl = Template(org_id=org_id, key=seed.key, name=seed.name, kind=seed.kind,
                           created_at=now)
            s.add(tpl)
            try:
                s.flush()
            except IntegrityError:  # seeded concurrently: the other one wins
                continue
            s.add(TemplateVersion(
                org_id=org_id, template_id=tpl.id, version=1,
                status=VersionStatus.PUBLISHED.value, source=seed.source, pdf_blob=None,
                variables=list(seed.variables), roles=list(seed.roles), pdf_fields=[],
                prefill=dict(seed.prefill), rules=list(seed.rules),
                contract=normalised(seed.contract),
                sample_data=checked.sample_data,
                pinned_clauses=pins, source_sha256=sha256_text(seed.source),
                fields_sha256=rendered.fields_sha256, created_by=publisher_user_id,
                created_at=now, submitted_at=now, published_by=publisher_user_id,
                published_at=now))
            uow.commit()

