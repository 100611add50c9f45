"""The template lifecycle rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accord.drafting.domain import (
    TEMPLATE_PERMISSIONS,
    Action,
    LifecycleError,
    RoleSpec,
    Step,
    VersionState,
    VersionStatus,
    VersionText,
    can_see,
    check_key,
    check_pdf_fields,
    check_prefill,
    check_update,
    diff,
    edits_in_place,
    match_recipients,
    may,
    parse_roles,
    stamps,
)
from accord.drafting.prefill import merge_prefill

D, R, P, X = (VersionStatus.DRAFT, VersionStatus.IN_REVIEW, VersionStatus.PUBLISHED,
              VersionStatus.RETIRED)


def test_review_path() -> None:
    v = VersionState(D)
    v.submit()
    assert v.status is R
    v.reject()
    assert v.status is D
    v.submit()
    v.publish(approval_required=True)
    assert v.status is P
    v.retire()
    assert v.status is X


def test_publishing_a_draft_needs_the_setting_off() -> None:
    with pytest.raises(LifecycleError) as exc:
        VersionState(D).publish(approval_required=True)
    assert exc.value.code == "review_required"
    v = VersionState(D)
    v.publish(approval_required=False)
    assert v.status is P


@pytest.mark.parametrize(("status", "step", "code"), [
    (R, "submit", "version_not_draft"), (P, "submit", "version_not_draft"),
    (D, "reject", "version_not_in_review"), (P, "reject", "version_not_in_review"),
    (P, "publish", "version_not_publishable"), (X, "publish", "version_not_publishable"),
    (D, "retire", "version_not_published"), (X, "retire", "version_not_published"),
])
def test_refused_transitions(status: VersionStatus, step: str, code: str) -> None:
    v = VersionState(status)
    act = ((lambda: v.publish(approval_required=False)) if step == "publish"
           else getattr(v, step))
    with pytest.raises(LifecycleError) as exc:
        act()
    assert exc.value.code == code
    assert v.status is status


def test_steps_by_name() -> None:
    v = VersionState(D)
    for step, status in ((Step.SUBMIT, R), (Step.REJECT, D), (Step.SUBMIT, R),
                         (Step.PUBLISH, P), (Step.RETIRE, X)):
        v.take(step)
        assert v.status is status
    with pytest.raises(LifecycleError) as exc:
        VersionState(D).take(Step.PUBLISH)  # approval is required unless said otherwise
    assert exc.value.code == "review_required"
    v = VersionState(D)
    v.take(Step.PUBLISH, approval_required=False)
    assert v.status is P


def test_what_each_step_stamps() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert stamps(Step.SUBMIT, user_id="u", now=now) == {"submitted_at": now}
    assert stamps(Step.REJECT, user_id="u", now=now) == {}
    assert stamps(Step.PUBLISH, user_id="u", now=now) == {"published_by": "u",
                                                          "published_at": now}
    assert stamps(Step.RETIRE, user_id="u", now=now) == {"retired_at": now}


def test_only_drafts_are_edited_in_place() -> None:
    assert edits_in_place(D)
    assert not any(edits_in_place(s) for s in (R, P, X))


def test_published_versions_are_immutable() -> None:
    check_update(D, D, {"source", "variables"})
    check_update(R, P, {"status", "published_at", "published_by", "pinned_clauses",
                        "fields_sha256"})
    check_update(P, X, {"status", "retired_at", "row_version"})
    for old, new, changed in [(P, P, {"source"}), (P, D, {"status"}), (X, P, {"status"}),
                              (P, X, {"status", "body"}), (R, R, {"variables"}),
                              (R, D, {"source"}), (X, X, {"pinned_clauses"})]:
        with pytest.raises(LifecycleError) as exc:
            check_update(old, new, changed)
        assert exc.value.code == "version_immutable"


def test_the_rule_agrees_with_the_permission_matrix() -> None:
    from accord.access import MATRIX, Role
    from accord.drafting.services.common import PERMISSION_OF

    for role in Role:
        for action in Action:
            if action is Action.READ_ALL:  # drafting's refinement of template:read
                continue
            assert may(role.value, action) == (PERMISSION_OF[action] in MATRIX[role]), (
                role, action)
        if may(role.value, Action.READ_ALL):
            assert PERMISSION_OF[Action.READ_ALL] in MATRIX[role]


def test_permissions_by_role() -> None:
    for role in ("legal", "admin"):
        assert all(may(role, a) for a in (Action.AUTHOR, Action.PUBLISH, Action.READ_ALL))
    for role in ("agent", "manager"):
        assert may(role, Action.USE) and may(role, Action.READ)
        assert not any(may(role, a) for a in (Action.AUTHOR, Action.PUBLISH,
                                               Action.READ_ALL))
    assert TEMPLATE_PERMISSIONS["compliance"] == {Action.READ, Action.READ_ALL}
    assert not may("admin", "nonsense")  # type: ignore[arg-type]
    assert not may("intruder", Action.READ)
    assert may("admin", Action.CONFIGURE) and not may("legal", Action.CONFIGURE)
    assert can_see("agent", P) and not can_see("agent", D) and not can_see("agent", X)
    assert can_see("compliance", D) and can_see("legal", R)


@pytest.mark.parametrize(("key", "clause", "ok"), [
    ("support-services-agreement", False, True), ("nda_v2", False, True),
    ("Bad", False, False), ("1abc", False, False), ("a" * 81, False, False),
    ("limitation_of_liability", True, True), ("with-dash", True, False), ("", True, False),
])
def test_keys(key: str, clause: bool, ok: bool) -> None:
    assert (check_key(key, clause=clause) is None) is ok


def test_roles_every_problem_at_once() -> None:
    roles, issues = parse_roles([
        {"key": "customer", "name": "Customer", "type": "signer", "routing_order": 1},
        {"key": "customer", "name": "Again"},
        {"key": "Bad Key", "type": "witness", "routing_order": 0, "auth": "sms"},
        "nope",
    ])
    assert [r.key for r in roles] == ["customer"]
    codes = [(i.field, i.code) for i in issues]
    assert ("roles[1].key", "role_duplicate") in codes
    assert {f for f, _ in codes} >= {"roles[2].key", "roles[2].type", "roles[2].routing_order",
                                     "roles[2].auth", "roles[3]"}
    _, issues = parse_roles([{"key": "copy", "name": "Copy", "type": "cc"}])
    assert [i.code for i in issues] == ["roles_no_signer"]
    assert parse_roles([])[1][0].code == "roles_missing"


ROLES = [RoleSpec("customer", "Customer", "signer", 1), RoleSpec("legal", "Legal", "cc", 2)]


def test_pdf_fields_shape() -> None:
    issues = check_pdf_fields([
        {"role": "customer", "kind": "signature", "page": 1, "x": 10, "y": 10},
        {"role": "vendor", "kind": "signature", "page": 1, "x": 10, "y": 10},
        {"role": "legal", "kind": "text", "anchor": "Legal:"},
        {"role": "customer", "kind": "stamp", "page": "one", "colour": "red"},
    ], ROLES)
    got = {(i.field, i.code) for i in issues}
    assert got == {("pdf_fields[1]", "tag_role_undeclared"), ("pdf_fields[2]", "tag_role_cc"),
                   ("pdf_fields[3]", "pdf_field_invalid"),
                   ("pdf_fields[3].kind", "pdf_field_invalid"),
                   ("pdf_fields[3].page", "pdf_field_invalid")}


def test_prefill_mapping_checks() -> None:
    issues = check_prefill({"customer.legal_name": "account.name", "nope": "a.b",
                            "tier": "account..tier", "term": "__class__.x()"},
                           {"customer.legal_name", "tier", "term"})
    assert {(i.field, i.code) for i in issues} == {
        ("prefill[nope]", "prefill_undeclared"), ("prefill[tier]", "prefill_path_invalid"),
        ("prefill[term]", "prefill_path_invalid")}


def test_merge_prefill_explicit_data_wins() -> None:
    record = {"account": {"name": "Globex Ltd", "tier": "gold",
                          "contacts": [{"email": "ops@globex.example"}]},
              "sla": {"hours": None}}
    mapping = {"customer.legal_name": "account.name", "tier": "account.tier",
               "customer.email": "account.contacts.0.email", "sla.hours": "sla.hours",
               "customer.city": "account.address.city"}
    merged = merge_prefill(record, mapping, {"tier": "silver", "customer.vat": "GB1"})
    assert merged == {"customer": {"legal_name": "Globex Ltd", "email": "ops@globex.example",
                                   "vat": "GB1"},
                      "tier": "silver"}
    nested = merge_prefill(record, mapping, {"customer": {"legal_name": "Initech"}})
    assert nested["customer"] == {"legal_name": "Initech", "email": "ops@globex.example"}
    assert merge_prefill(None, mapping, {"a": 1}) == {"a": 1}
    # attribute-looking paths read nothing from objects
    assert merge_prefill({"x": object()}, {"v": "x.__class__"}, {}) == {}


def test_match_recipients() -> None:
    issues = match_recipients(
        [RoleSpec("customer", "Customer", "signer", 1), RoleSpec("provider", "Us", "signer", 2),
         RoleSpec("copy", "Copy", "cc", 3)],
        {"customer": {"name": "Ann", "email": "ann@example.com"},
         "copy": {"name": "", "email": "not-an-email"},
         "witness": {"name": "W", "email": "w@example.com"}})
    assert [(i.role, i.code) for i in issues] == [
        ("provider", "role_recipient_missing"), ("copy", "recipient_invalid"),
        ("witness", "recipient_role_undeclared")]


def test_diff_covers_source_and_json() -> None:
    a = VersionText("nda v1", "Hello\n{{ name }}\n", [{"name": "name", "type": "text"}],
                    [{"key": "customer"}], {})
    b = VersionText("nda v2", "Hello\n{{ name }}!\n", [{"name": "name", "type": "text"}],
                    [{"key": "customer"}], {"name": "account.name"})
    lines = diff(a, b)
    assert "--- nda v1/source" in lines and "+++ nda v2/source" in lines
    assert "-{{ name }}" in lines and "+{{ name }}!" in lines
    assert "+++ nda v2/prefill" in lines and '+  "name": "account.name"' in lines
    assert not any("variables" in line for line in lines)
    assert diff(a, a) == []
