"""The shipped example templates and seed clauses: valid, checked, rendered."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pypdfium2 as pdfium
import pytest

from accord.drafting.examples import ClauseSeed, Examples, TemplateSeed, load_examples
from accord.drafting.render import Rendered, check_clause, check_source, render, render_html
from accord.drafting.variables import parse_specs, validate
from accord.envelopes.routing import VarInfo, parse_rules

SEED_CLAUSES = {"limitation_of_liability", "confidentiality", "data_protection",
                "sla_credits", "termination"}
TEMPLATES = ["maintenance-contract", "mutual-nda", "support-services-agreement"]


def words(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        text = " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()
    return " ".join(text.split())


@pytest.fixture(scope="session")
def examples() -> Examples:
    return load_examples()


@pytest.fixture(scope="session")
def clause_bodies(examples: Examples) -> dict[str, str]:
    return {c.key: c.body for c in examples.clauses}


def seed(examples: Examples, key: str) -> TemplateSeed:
    return next(t for t in examples.templates if t.key == key)


def context_for(template: TemplateSeed, **changes: Any) -> dict[str, Any]:
    context, problems = validate(parse_specs(template.variables),
                                 {**template.sample_data, **changes})
    assert problems == []
    return context


@pytest.fixture(scope="session")
def rendered(examples: Examples, clause_bodies: dict[str, str]) -> dict[str, Rendered]:
    """Each example rendered once, with its sample data."""
    return {t.key: render(t.source, t.kind, context_for(t), clause_bodies, title=t.name,
                          envelope_id="env_example")
            for t in examples.templates}


def test_load_examples_returns_frozen_seeds(examples: Examples) -> None:
    assert [t.key for t in examples.templates] == TEMPLATES
    assert {c.key for c in examples.clauses} >= SEED_CLAUSES
    assert all(isinstance(c, ClauseSeed) for c in examples.clauses)
    with pytest.raises(dataclasses.FrozenInstanceError):
        examples.templates[0].name = "x"  # type: ignore[misc]
    fresh = load_examples()
    fresh.templates[0].variables.clear()
    assert examples.templates[0].variables  # each call reads anew


def test_clause_seeds(examples: Examples) -> None:
    for clause in examples.clauses:
        assert clause.title and clause.title[0].isupper()
        assert not clause.body.startswith("#")
        check_clause(clause.body)
    titles = {c.key: c.title for c in examples.clauses}
    assert titles["limitation_of_liability"] == "Limitation of Liability"
    assert "HIPAA" in next(c.body for c in examples.clauses if c.key == "data_protection")


@pytest.mark.parametrize("key", TEMPLATES)
def test_each_template_is_consistent(examples: Examples, key: str) -> None:
    template = seed(examples, key)
    assert template.kind == "markdown" and template.name
    specs = parse_specs(template.variables)
    names = {s.name for s in specs}
    _context, problems = validate(specs, template.sample_data)
    assert problems == []
    info = check_source(template.source, template.kind)
    assert info.clause_keys and set(info.clause_keys) <= SEED_CLAUSES
    roles = {r["key"]: r for r in template.roles}
    signers = {k for k, r in roles.items() if r["type"] == "signer"}
    for role in template.roles:
        assert {"key", "name", "type", "routing_order", "auth"} <= set(role) <= {
            "key", "name", "type", "routing_order", "auth", "default_recipient"}
        assert role["type"] in ("signer", "approver", "cc")
        assert isinstance(role["routing_order"], int) and role["routing_order"] >= 1
    clause_tags = [t for c in examples.clauses if c.key in info.clause_keys
                   for t in check_clause(c.body).tags]
    assert {t.role for t in [*info.tags, *clause_tags]} <= signers
    assert {t.role for t in info.tags if t.kind == "signature"} == signers
    _rules, rule_problems = parse_rules(
        template.rules, roles={k: r["type"] for k, r in roles.items()},
        variables={s.name: VarInfo(s.type, s.options) for s in specs})
    assert rule_problems == []
    added = {a["role"] for r in template.rules for a in r["then"]
             if a["action"] == "add_recipient"}
    assert all("default_recipient" in roles[k] for k in added)
    for variable, path in template.prefill.items():
        assert variable in names
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", path)


@pytest.mark.parametrize("key", TEMPLATES)
def test_each_template_renders(examples: Examples, rendered: dict[str, Rendered],
                               key: str) -> None:
    template, result = seed(examples, key), rendered[key]
    text = words(result.pdf)
    assert template.name in text
    assert f"Page 1 of {result.page_count}" in text and "Envelope env_example" in text
    assert "[[" not in text and "{{" not in text and "{%" not in text
    signers = {r["key"] for r in template.roles if r["type"] == "signer"}
    assert {f.role for f in result.fields if f.kind == "signature"} == signers
    assert all(1 <= f.page <= result.page_count for f in result.fields)
    assert len(result.fields_sha256) == 64


def test_support_agreement_sample_is_enterprise_with_hipaa(rendered: dict[str, Rendered]) -> None:
    text = words(rendered["support-services-agreement"].pdf)
    assert "Harborview Health Partners, LLC" in text
    assert "USD 24,000.00" in text
    assert "January 1, 2026" in text and "December 31, 2027" in text
    assert "Technical Account Manager" in text and "Priya Raman" in text
    assert "seven (7) days a week, 365 days a year" in text
    assert "15 minutes (24x7)" in text
    assert "Enterprise 10% 5% 30%" in text
    assert "Business Associate Terms (HIPAA)" in text
    assert "Brightline Field Service Standard 40" in text  # Schedule A, edition defaulted
    assert "Customer's initials:" in text


@pytest.mark.parametrize("tier", ["standard", "premium"])
def test_clauses_and_service_levels_follow_the_tier(
        examples: Examples, clause_bodies: dict[str, str], tier: str) -> None:
    template = seed(examples, "support-services-agreement")
    context = context_for(template, tier=tier, tam_name=None, hipaa=False)
    result = render(template.source, template.kind, context, clause_bodies,
                    title=template.name)
    text = words(result.pdf)
    assert "Technical Account Manager" not in text and "Priya Raman" not in text
    assert "Business Associate Terms" not in text
    assert f"{tier.title()} Support Tier" in text
    if tier == "premium":
        assert "Escalation Manager" in text
        assert "1 hour (24x7) 24 hours" in text
        assert "Premium 5% 3% 20%" in text
        assert "up to six (6) named contacts" in text
    else:
        assert "Escalation Manager" not in text
        assert "4 Business Hours 2 business days" in text
        assert "Standard 5% 2% 10%" in text
        assert "during Business Hours through the support portal and by email" in text
    assert "Preview" in text


def test_negotiated_service_levels_replace_the_tier_table(
        examples: Examples, clause_bodies: dict[str, str]) -> None:
    template = seed(examples, "support-services-agreement")
    overrides = [{"severity": "2", "response": "30 minutes", "resolution": "12 hours"},
                 {"severity": "1", "response": "10 minutes", "resolution": "4 hours"}]
    page = render_html(template.source, template.kind,
                       context_for(template, sla_overrides=overrides), clause_bodies,
                       title=template.name)
    assert "as negotiated by the Parties" in page.html
    first, second = page.html.index("10 minutes"), page.html.index("30 minutes")
    assert first < second  # sorted by severity
    assert "15 minutes (24x7)" not in page.html


def test_maintenance_and_nda_conditionals(rendered: dict[str, Rendered]) -> None:
    maintenance = words(rendered["maintenance-contract"].pdf)
    assert "four equal quarterly installments" in maintenance
    assert "within 4 hours after a Severity 1 failure" in maintenance
    assert "To be recorded at first visit" in maintenance
    assert "Premium 5% 3% 20%" in maintenance
    nda = words(rendered["mutual-nda"].pdf)
    assert "2 years beginning on the Effective Date" in nda
    assert "Business Associate Terms" not in nda
    assert "organized under the laws of the State of Delaware" in nda
