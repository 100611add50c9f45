"""Template and clause lifecycle services on SQLite and PostgreSQL: approval rules by role,
immutable published versions, clause pinning, diffs, organisation scoping."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from accord.access import Principal
from accord.drafting import services
from accord.drafting.models import ClauseVersion, TemplateVersion
from accord.errors import AccordError, Conflict, Forbidden, InvalidInput, NotFound
from accord.runtime import Runtime
from tests.factories import Member, member

CLAUSE_V1 = "The Provider's total liability is capped at the fees paid (cap version one)."
CLAUSE_V2 = "The Provider's total liability is capped at twice the fees (cap version two)."
SOURCE = """# Service Order

This order is made with **{{ customer.legal_name }}** on the {{ tier }} tier for
{{ fee|money }} a year.

{% if tier == "premium" %}Premium support applies around the clock.{% endif %}

{{ clause("liability") }}

Customer signature: [[signature:customer]] Date: [[date_signed:customer]]

<div class="page-break"></div>

Provider signature: [[signature:provider]] PO number: [[text:provider:po_number]]

[[checkbox:provider:invoice_by_email]] Send invoices by email.
"""
VARIABLES: list[dict[str, Any]] = [
    {"name": "customer.legal_name", "type": "text", "max_length": 100},
    {"name": "tier", "type": "enum", "options": ["standard", "premium"],
     "default": "standard"},
    {"name": "fee", "type": "money", "currency": "USD", "min": 0, "max": 1000000},
]
ROLES: list[dict[str, Any]] = [
    {"key": "customer", "name": "Customer", "type": "signer", "routing_order": 1},
    {"key": "provider", "name": "Provider", "type": "signer", "routing_order": 2},
    {"key": "copy", "name": "Account manager", "type": "cc", "routing_order": 3},
]
PREFILL = {"customer.legal_name": "account.name", "tier": "account.support_tier"}
SAMPLE = {"customer": {"legal_name": "Globex Ltd"}, "tier": "premium", "fee": "1200.00"}
RECIPIENTS = {"customer": {"name": "Ann Lee", "email": "ann@customer.example"},
              "provider": {"name": "Bob Ray", "email": "bob@provider.example"},
              "copy": {"name": "Carl Copy", "email": "carl@provider.example"}}


def make_clause(rt: Runtime, p: Principal, body: str = CLAUSE_V1, *,
                publish: bool = True) -> None:
    services.create_clause(rt, p, key="liability", title="Limitation of liability", body=body)
    if publish:
        services.submit_clause(rt, p, "liability")
        services.publish_clause(rt, p, "liability")


def make_template(rt: Runtime, p: Principal, key: str = "service-order", *,
                  publish: bool = True, **overrides: Any) -> services.TemplateView:
    args: dict[str, Any] = {"source": SOURCE, "variables": VARIABLES, "roles": ROLES,
                            "prefill": PREFILL, "sample_data": SAMPLE, **overrides}
    view = services.create_template(rt, p, key=key, name="Service Order", kind="markdown",
                                    **args)
    if publish:
        services.submit_template(rt, p, key)
        view = services.publish_template(rt, p, key)
    return view


def legal_with_library(rt: Runtime) -> Member:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    make_template(rt, legal.principal)
    return legal


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def codes(exc: pytest.ExceptionInfo[AccordError]) -> set[str]:
    return {d["code"] for d in exc.value.details}


# -- who may do what -----------------------------------------------------------------------


def test_agents_and_compliance_cannot_author_or_publish(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    services.edit_template(rt, legal.principal, "service-order", source=SOURCE + "\nMore.\n")
    services.submit_template(rt, legal.principal, "service-order")
    for role in ("agent", "manager", "compliance"):
        p = member(rt, role=role, org_id=legal.org_id).principal
        with pytest.raises(Forbidden):
            services.create_template(rt, p, key="x", name="X", kind="markdown",
                                     source="Hi", roles=ROLES)
        with pytest.raises(Forbidden):
            services.create_clause(rt, p, key="x", title="X", body="Body")
        with pytest.raises(Forbidden):
            services.edit_template(rt, p, "service-order", source="Changed")
        with pytest.raises(Forbidden):
            services.publish_template(rt, p, "service-order")
        with pytest.raises(Forbidden):
            services.retire_template(rt, p, "service-order")
        with pytest.raises(Forbidden):
            services.publish_clause(rt, p, "liability")
    # ... the legal role can, and an admin too
    admin = member(rt, role="admin", org_id=legal.org_id).principal
    view = services.publish_template(rt, admin, "service-order")
    assert view.published_version == 2


def test_api_key_scopes_apply(rt: Runtime) -> None:
    from accord.accounts.services import authenticate_api_key, create_api_key

    legal = legal_with_library(rt)
    _kid, key = create_api_key(rt, legal.user_id, "read-only", scopes=["templates:read"])
    read_only = authenticate_api_key(rt, key)
    assert services.get_template(rt, read_only, "service-order").key == "service-order"
    for call in (lambda: services.edit_template(rt, read_only, "service-order", source="x"),
                 lambda: services.publish_clause(rt, read_only, "liability"),
                 lambda: services.create_from_template(
                     rt, read_only, template_key="service-order", data=SAMPLE,
                     recipients=RECIPIENTS)):
        with pytest.raises(Forbidden) as exc:
            call()
        assert exc.value.code == "scope_missing"


def test_reading_by_role(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    make_template(rt, legal.principal, "draft-only", publish=False)
    agent = member(rt, role="agent", org_id=legal.org_id).principal
    compliance = member(rt, role="compliance", org_id=legal.org_id).principal
    assert [t.key for t in services.list_templates(rt, agent)] == ["service-order"]
    assert [t.key for t in services.list_templates(rt, compliance)] == [
        "draft-only", "service-order"]
    assert [t.key for t in services.list_templates(rt, legal.principal)] == [
        "draft-only", "service-order"]
    with pytest.raises(NotFound):
        services.get_template(rt, agent, "draft-only")
    services.edit_template(rt, legal.principal, "service-order", source=SOURCE + "\nv2\n")
    assert [v.version for v in services.get_template(rt, agent, "service-order").versions] == [1]
    with pytest.raises(NotFound):
        services.get_template_version(rt, agent, "service-order", 2)
    assert services.get_template_version(rt, compliance, "service-order", 2).status == "draft"
    assert services.get_template_version(rt, agent, "service-order").version == 1


def test_approval_setting_forces_review(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    admin = member(rt, role="admin", org_id=legal.org_id).principal
    make_clause(rt, legal.principal)
    make_template(rt, legal.principal, publish=False)
    assert services.get_settings(rt, legal.principal).template_approval_required is True
    with pytest.raises(Conflict) as exc:
        services.publish_template(rt, legal.principal, "service-order")
    assert exc.value.code == "review_required"
    services.submit_template(rt, legal.principal, "service-order")
    services.reject_template(rt, legal.principal, "service-order")
    assert services.get_template_version(rt, legal.principal, "service-order").status == "draft"
    with pytest.raises(Forbidden):
        services.set_settings(rt, legal.principal, template_approval_required=False)
    services.set_settings(rt, admin, template_approval_required=False)
    assert services.get_settings(rt, legal.principal).template_approval_required is False
    view = services.publish_template(rt, legal.principal, "service-order")
    assert [(v.version, v.status) for v in view.versions] == [(1, "published")]
    with pytest.raises(Conflict) as exc:
        services.submit_template(rt, legal.principal, "service-order")
    assert exc.value.code == "version_not_draft"


# -- immutability --------------------------------------------------------------------------


def test_editing_a_published_version_makes_a_new_draft(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    p = legal.principal
    v1 = services.get_template_version(rt, p, "service-order", 1)
    view = services.edit_template(rt, p, "service-order", source=SOURCE.replace("year", "month"))
    assert [(v.version, v.status) for v in view.versions] == [(1, "published"), (2, "draft")]
    assert services.get_template_version(rt, p, "service-order", 1) == v1
    # a draft is edited in place
    view = services.edit_template(rt, p, "service-order", source=SOURCE.replace("year", "week"))
    assert len(view.versions) == 2
    v2 = services.get_template_version(rt, p, "service-order", 2)
    assert "week" in v2.source and v2.source_sha256 != v1.source_sha256
    assert v2.variables == v1.variables and v2.pinned_clauses == {}
    # an edit that changes nothing makes nothing
    services.submit_template(rt, p, "service-order")
    view = services.edit_template(rt, p, "service-order", source=v2.source)
    assert [(v.version, v.status) for v in view.versions] == [(1, "published"),
                                                              (2, "in_review")]
    # in review: an edit becomes version 3, the reviewed text stays
    view = services.edit_template(rt, p, "service-order", prefill={})
    assert [(v.version, v.status) for v in view.versions][-1] == (3, "draft")
    assert services.get_template_version(rt, p, "service-order", 2).prefill == PREFILL


def test_published_rows_cannot_be_changed_directly(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    with rt.db.uow() as uow:
        row = uow.session.query(TemplateVersion).one()
        row.source = "tampered"
        with pytest.raises(Conflict) as exc:
            uow.session.flush()
        assert exc.value.code == "version_immutable"
    with rt.db.uow() as uow:
        clause_row = uow.session.query(ClauseVersion).one()
        clause_row.status = "draft"
        with pytest.raises(Conflict):
            uow.session.flush()
    v1 = services.get_template_version(rt, legal.principal, "service-order", 1)
    assert v1.source == SOURCE and v1.status == "published"


def test_retire(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    agent = member(rt, role="agent", org_id=legal.org_id).principal
    view = services.retire_template(rt, legal.principal, "service-order")
    assert [v.status for v in view.versions] == ["retired"]
    assert services.list_templates(rt, agent) == []
    with pytest.raises(Conflict) as exc:
        services.retire_template(rt, legal.principal, "service-order")
    assert exc.value.code == "version_not_published"
    with pytest.raises(Conflict) as exc:
        services.create_from_template(rt, agent, template_key="service-order", data=SAMPLE,
                                      recipients=RECIPIENTS)
    assert exc.value.code == "template_not_published"


# -- clauses -------------------------------------------------------------------------------


def test_clause_lifecycle_and_pinning(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    p = legal.principal
    assert services.get_template_version(rt, p, "service-order", 1).pinned_clauses[
        "liability"]["version"] == 1
    # clause v2 published: the published template still renders v1
    view = services.edit_clause(rt, p, "liability", body=CLAUSE_V2)
    assert [(v.version, v.status) for v in view.versions] == [(1, "published"), (2, "draft")]
    services.submit_clause(rt, p, "liability")
    view = services.publish_clause(rt, p, "liability")
    assert view.published_version == 2
    text = pdf_text(services.preview(rt, p, key="service-order", version=1))
    assert "cap version one" in text and "cap version two" not in text
    # republishing the template (a new version) pins v2
    services.edit_template(rt, p, "service-order", source=SOURCE + "\nAmended.\n")
    services.submit_template(rt, p, "service-order")
    services.publish_template(rt, p, "service-order")
    v2 = services.get_template_version(rt, p, "service-order", 2)
    assert v2.pinned_clauses["liability"]["version"] == 2
    assert "cap version two" in pdf_text(services.preview(rt, p, key="service-order"))
    # the diff of the clause
    lines = services.diff_clause(rt, p, "liability", 1, 2).lines
    assert f"-{CLAUSE_V1}" in lines and f"+{CLAUSE_V2}" in lines


def test_clause_validation_and_retirement(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    p = legal.principal
    with pytest.raises(InvalidInput) as exc:
        services.create_clause(rt, p, key="Bad Key", title="", body="{% if %}")
    assert codes(exc) >= {"invalid_key", "invalid_name", "template_syntax"}
    with pytest.raises(InvalidInput) as exc:
        services.create_clause(rt, p, key="nested", title="N", body='{{ clause("other") }}')
    assert exc.value.code == "template_forbidden"
    make_clause(rt, p)
    with pytest.raises(Conflict) as conflict:
        services.create_clause(rt, p, key="liability", title="Again", body="x")
    assert conflict.value.code == "clause_exists"
    services.retire_clause(rt, p, "liability")
    with pytest.raises(InvalidInput) as exc:  # nothing left to pin
        make_template(rt, p)
    assert exc.value.code == "clause_not_published"
    assert [c.key for c in services.list_clauses(rt, p)] == ["liability"]
    agent = member(rt, role="agent", org_id=legal.org_id).principal
    assert services.list_clauses(rt, agent) == []


def test_publishing_needs_published_clauses(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    p = legal.principal
    make_clause(rt, p, publish=False)
    make_template(rt, p, publish=False)  # a draft clause exists: upload is fine
    services.submit_template(rt, p, "service-order")
    with pytest.raises(InvalidInput) as exc:
        services.publish_template(rt, p, "service-order")
    assert exc.value.code == "clause_not_published"


# -- upload validation ---------------------------------------------------------------------


def test_upload_reports_every_problem(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    with pytest.raises(InvalidInput) as exc:
        services.create_template(
            rt, legal.principal, key="bad", name="Bad", kind="markdown",
            source=SOURCE + '\n{{ clause("nope") }} [[signature:witness]] [[initials:copy]]\n',
            variables=[*VARIABLES, {"name": "x", "type": "colour"}],
            roles=[*ROLES, {"key": "copy2", "type": "observer"}],
            prefill={"missing": "account.name"},
            sample_data={"tier": "gold", "undeclared": 1})
    got = codes(exc)
    assert exc.value.code == "template_invalid"
    assert got >= {"clause_unknown", "tag_role_undeclared", "tag_role_cc", "spec_type",
                   "role_invalid", "prefill_undeclared"}
    # a syntax error: the engine's code, with the line
    with pytest.raises(InvalidInput) as exc:
        services.create_template(rt, legal.principal, key="bad", name="Bad", kind="markdown",
                                 source="Hello\n\n{% if x %}never closed", roles=ROLES)
    assert exc.value.code == "template_syntax"
    assert "line" in exc.value.details[0]["message"]
    with pytest.raises(InvalidInput) as exc:
        services.create_template(rt, legal.principal, key="bad", name="Bad", kind="markdown",
                                 source="{{ customer.__class__ }}", roles=ROLES)
    assert exc.value.code == "template_forbidden"
    # sample data is validated against the variables
    with pytest.raises(InvalidInput) as exc:
        make_template(rt, legal.principal, sample_data={"tier": "gold", "extra": 1})
    assert codes(exc) >= {"variable_option", "variable_undeclared", "variable_required"}


def test_sample_data_is_generated_when_absent(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    make_template(rt, legal.principal, publish=False, sample_data=None)
    v = services.get_template_version(rt, legal.principal, "service-order")
    assert v.sample_data["customer"]["legal_name"] and v.sample_data["tier"] == "standard"
    assert services.preview(rt, legal.principal, key="service-order").startswith(b"%PDF-")


# -- diff, scoping ---------------------------------------------------------------------------


def test_diff_between_versions(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    p = legal.principal
    services.edit_template(rt, p, "service-order", source=SOURCE.replace("a year", "a month"),
                           roles=[*ROLES[:2], {**ROLES[2], "name": "Renewals desk"}])
    d = services.diff_template(rt, p, "service-order", 1, 2)
    assert "--- service-order v1/source" in d.lines
    assert "+{{ fee|money }} a month." in d.lines and "-{{ fee|money }} a year." in d.lines
    assert '+    "name": "Renewals desk",' in d.lines
    assert not any(line.startswith("+++ service-order v2/variables") for line in d.lines)
    assert services.diff_template(rt, p, "service-order", 2, 2).lines == []
    with pytest.raises(NotFound):
        services.diff_template(rt, p, "service-order", 1, 9)


def test_other_organisations_see_nothing(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    other = member(rt, role="admin", org_name="Initech")
    p = other.principal
    assert services.list_templates(rt, p) == [] and services.list_clauses(rt, p) == []
    for call in (lambda: services.get_template(rt, p, "service-order"),
                 lambda: services.publish_template(rt, p, "service-order"),
                 lambda: services.edit_template(rt, p, "service-order", source="x"),
                 lambda: services.diff_template(rt, p, "service-order", 1, 1),
                 lambda: services.get_clause(rt, p, "liability"),
                 lambda: services.preview(rt, p, key="service-order"),
                 lambda: services.create_from_template(rt, p, template_key="service-order",
                                                       data=SAMPLE, recipients=RECIPIENTS)):
        with pytest.raises(NotFound):
            call()
    version_id = services.get_template_version(rt, legal.principal, "service-order").id
    with pytest.raises(NotFound):
        services.preview(rt, p, version_id=version_id)
    # the same key in another organisation is independent
    make_clause(rt, p, CLAUSE_V2)
    make_template(rt, p)
    assert "cap version two" in pdf_text(services.preview(rt, p, key="service-order"))
    assert "cap version one" in pdf_text(services.preview(rt, legal.principal,
                                                          key="service-order"))


def test_preview_validates_data(rt: Runtime) -> None:
    legal = legal_with_library(rt)
    agent = member(rt, role="agent", org_id=legal.org_id).principal
    with pytest.raises(InvalidInput) as exc:
        services.preview(rt, agent, key="service-order",
                         data={"tier": "gold", "fee": "-5", "nope": 1})
    assert exc.value.code == "template_data_invalid"
    assert {(d["variable"], d["code"]) for d in exc.value.details} >= {
        ("tier", "variable_option"), ("nope", "variable_undeclared"),
        ("customer.legal_name", "variable_required")}
    pdf = services.preview(rt, agent, key="service-order",
                           data={"fee": 10}, customer={"account": {"name": "Umbrella plc"}})
    text = pdf_text(pdf)
    assert "Umbrella plc" in text and "Preview" in text


def test_seeding_the_shipped_library_is_idempotent(rt: Runtime) -> None:
    from accord.drafting.examples import load_examples

    admin = member(rt, role="admin")
    services.seed_examples(rt, admin.org_id, publisher_user_id=admin.user_id)
    services.seed_examples(rt, admin.org_id, publisher_user_id=admin.user_id)
    examples = load_examples()
    listed = services.list_templates(rt, admin.principal)
    assert [t.key for t in listed] == [t.key for t in examples.templates]
    assert all(t.published_version == 1 and t.latest_version == 1 for t in listed)
    assert len(services.list_clauses(rt, admin.principal)) == len(examples.clauses)
    for t in examples.templates:
        v = services.get_template_version(rt, admin.principal, t.key)
        assert v.fields_sha256 and v.source_sha256 and v.status == "published"
    outsider = member(rt, role="admin", org_name="Other")
    with pytest.raises(InvalidInput):
        services.seed_examples(rt, admin.org_id, publisher_user_id=outsider.user_id)


def test_a_change_while_publishing_wins(rt: Runtime,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing renders outside the transaction; the version's row_version (and the clause
    pins) are checked again before it commits."""
    from accord.drafting.services import render as services_render
    from accord.drafting.services import templates as services_templates

    legal = member(rt, role="legal")
    p = legal.principal
    make_clause(rt, p)
    make_template(rt, p, publish=False)
    services.submit_template(rt, p, "service-order")
    real_run = services_render.run

    def reject_meanwhile(*args: Any, **kw: Any) -> Any:
        services.reject_template(rt, p, "service-order")
        return real_run(*args, **kw)

    monkeypatch.setattr(services_templates, "run", reject_meanwhile)
    with pytest.raises(Conflict) as exc:
        services.publish_template(rt, p, "service-order")
    assert exc.value.code == "concurrent_update"
    assert services.get_template_version(rt, p, "service-order").status == "draft"

    services.submit_template(rt, p, "service-order")

    def publish_clause_meanwhile(*args: Any, **kw: Any) -> Any:
        services.edit_clause(rt, p, "liability", body=CLAUSE_V2)
        services.submit_clause(rt, p, "liability")
        services.publish_clause(rt, p, "liability")
        return real_run(*args, **kw)

    monkeypatch.setattr(services_templates, "run", publish_clause_meanwhile)
    with pytest.raises(Conflict) as exc:
        services.publish_template(rt, p, "service-order")
    assert exc.value.code == "concurrent_update"
    monkeypatch.setattr(services_templates, "run", real_run)
    view = services.publish_template(rt, p, "service-order")
    assert view.published_version == 1
    assert services.get_template_version(rt, p, "service-order").pinned_clauses[
        "liability"]["version"] == 2
