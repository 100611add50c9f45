"""The routing rule language without a database: parsing (every problem, with codes),
conditions, actions, and evaluation that is deterministic and idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.envelopes import routing
from accord.envelopes.routing import Slot, VarInfo, evaluate, holds, parse_rules
from accord.envelopes.routing.parse import MAX_RULES

ROLES = {"customer": "signer", "provider": "signer", "copy": "cc", "legal": "approver",
         "dpo": "approver"}
BASE = [Slot("customer", "signer", 1), Slot("provider", "signer", 2), Slot("copy", "cc", 3),
        Slot("legal", "approver", 1), Slot("dpo", "approver", 1)]
VARS = {"fee": VarInfo("money"), "region": VarInfo("enum", ("US", "EU")),
        "tier": VarInfo("enum", ("standard", "enterprise")), "vip": VarInfo("boolean"),
        "seats": VarInfo("number"), "start": VarInfo("date"), "name": VarInfo("text"),
        "items": VarInfo("list")}


def rule(when: Any, *then: dict[str, Any], rid: str = "r1") -> dict[str, Any]:
    return {"id": rid, "description": f"rule {rid}", "when": when, "then": list(then)}


def parsed(*raw: dict[str, Any]) -> list[routing.Rule]:
    rules, problems = parse_rules(list(raw), roles=ROLES)
    assert problems == []
    return rules


def orders(plan: routing.Plan) -> dict[str, int]:
    return {s.key: s.routing_order for s in plan.slots}


# -- parsing -------------------------------------------------------------------------------


def test_a_rule_round_trips_through_its_json() -> None:
    raw = rule({"all": [{"var": "fee", "op": "gt", "value": 50000},
                        {"not": {"var": "region", "op": "in", "value": ["US"]}},
                        {"any": [{"var": "name", "op": "exists"}]}]},
               {"action": "add_recipient", "role": "legal", "before": "customer"},
               {"action": "require_auth", "role": "customer", "method": "sms_otp+email_otp"})
    (r,) = parsed(raw)
    again = r.as_json()
    assert again["then"][1]["method"] == "email_otp+sms_otp"  # canonical order
    assert parse_rules([again], roles=ROLES)[0] == [r]


@pytest.mark.parametrize(("raw", "code"), [
    ("not a list", "rules_invalid"),
    ([42], "rule_invalid"),
    ([rule({"var": "a", "op": "eq", "value": 1}, {"action": "skip_role", "role": "copy"},
           rid="Bad Id")], "rule_id_invalid"),
    ([{"id": "x", "when": {"var": "a", "op": "exists"},
       "then": [{"action": "skip_role", "role": "copy"}]}], "rule_description_invalid"),
    ([rule({"var": "a", "op": "matches", "value": 1}, {"action": "skip_role", "role": "copy"})],
     "rule_operator_invalid"),
    ([rule({"var": "a b", "op": "eq", "value": 1}, {"action": "skip_role", "role": "copy"})],
     "rule_condition_invalid"),
    ([rule({"var": "a", "op": "eq"}, {"action": "skip_role", "role": "copy"})],
     "rule_value_invalid"),
    ([rule({"var": "a", "op": "exists", "value": 1}, {"action": "skip_role", "role": "copy"})],
     "rule_value_invalid"),
    ([rule({"var": "a", "op": "in", "value": []}, {"action": "skip_role", "role": "copy"})],
     "rule_value_invalid"),
    ([rule({"var": "a", "op": "gt", "value": True}, {"action": "skip_role", "role": "copy"})],
     "rule_value_invalid"),
    ([rule({"var": "a", "op": "eq", "value": {"x": 1}},
           {"action": "skip_role", "role": "copy"})], "rule_value_invalid"),
    ([rule({"all": []}, {"action": "skip_role", "role": "copy"})], "rule_condition_invalid"),
    ([rule({"var": "a", "all": []}, {"action": "skip_role", "role": "copy"})],
     "rule_condition_invalid"),
    ([rule({"var": "a", "op": "exists"})], "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"}, {"action": "skip_role", "role": "ghost"})],
     "rule_role_undeclared"),
    ([rule({"var": "a", "op": "exists"}, {"action": "reorder", "role": "copy"})],
     "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"}, {"action": "set_order", "role": "copy"})],
     "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"},
           {"action": "set_order", "role": "copy", "routing_order": 101})],
     "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"},
           {"action": "add_recipient", "role": "legal", "before": "customer",
            "routing_order": 2})], "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"},
           {"action": "reorder", "role": "legal", "before": "legal"})], "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"},
           {"action": "skip_role", "role": "copy", "before": "legal"})], "rule_action_invalid"),
    ([rule({"var": "a", "op": "exists"},
           {"action": "require_auth", "role": "customer", "method": "carrier_pigeon"})],
     "rule_auth_invalid"),
    ([rule({"var": "a", "op": "exists"},
           {"action": "require_auth", "role": "copy", "method": "sms_otp"})],
     "rule_auth_invalid"),
    ([rule({"var": "a", "op": "exists"}, {"action": "skip_role", "role": "copy"}, rid="d"),
      rule({"var": "a", "op": "exists"}, {"action": "skip_role", "role": "copy"}, rid="d")],
     "rule_id_duplicate"),
])
def test_problems_have_codes(raw: Any, code: str) -> None:
    rules, problems = parse_rules(raw, roles=ROLES)
    assert rules == []
    assert code in {p.code for p in problems}, problems
    assert all(p.message.startswith(p.field) for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    raw = [rule({"var": "a", "op": "nope", "value": 1},
                {"action": "skip_role", "role": "ghost"},
                {"action": "explode", "role": "copy"}, rid="BAD")]
    _rules, problems = parse_rules(raw, roles=ROLES)
    assert [p.field for p in problems] == [
        "rules[0].id", "rules[0].when.op", "rules[0].then[0].role", "rules[0].then[1]"]


def test_limits() -> None:
    many = [rule({"var": "a", "op": "exists"}, {"action": "skip_role", "role": "copy"},
                 rid=f"r{i}") for i in range(MAX_RULES + 1)]
    assert "too_many_rules" in {p.code for p in parse_rules(many, roles=ROLES)[1]}
    deep: dict[str, Any] = {"var": "a", "op": "exists"}
    for _ in range(10):
        deep = {"not": deep}
    problems = parse_rules([rule(deep, {"action": "skip_role", "role": "copy"})])[1]
    assert any("nest" in p.message for p in problems)
    wide = {"any": [{"var": f"v{i}", "op": "exists"} for i in range(60)]}
    problems = parse_rules([rule(wide, {"action": "skip_role", "role": "copy"})])[1]
    assert any("at most 50 conditions" in p.message for p in problems)


@pytest.mark.parametrize(("cond", "ok"), [
    ({"var": "fee", "op": "gt", "value": 50000}, True),
    ({"var": "fee.amount", "op": "gt", "value": 50000}, True),
    ({"var": "fee.currency", "op": "eq", "value": "USD"}, True),
    ({"var": "fee", "op": "gt", "value": "50000"}, False),  # money compares with numbers
    ({"var": "region", "op": "eq", "value": "EU"}, True),
    ({"var": "tier", "op": "eq", "value": "Enterprise"}, False),  # not an option
    ({"var": "tier", "op": "in", "value": ["standard", "gold"]}, False),
    ({"var": "tier", "op": "gt", "value": "standard"}, False),
    ({"var": "vip", "op": "eq", "value": True}, True),
    ({"var": "vip", "op": "eq", "value": "yes"}, False),
    ({"var": "seats", "op": "lte", "value": 10}, True),
    ({"var": "start", "op": "gte", "value": "2026-01-01"}, True),
    ({"var": "start", "op": "gte", "value": "January"}, False),
    ({"var": "name", "op": "eq", "value": 3}, False),
    ({"var": "items", "op": "exists"}, True),
    ({"var": "items", "op": "eq", "value": "x"}, False),
    ({"var": "ghost", "op": "exists"}, False),
    ({"var": "customer.name", "op": "exists"}, False),
])
def test_values_must_suit_declared_variables(cond: dict[str, Any], ok: bool) -> None:
    problems = parse_rules([rule(cond, {"action": "skip_role", "role": "copy"})],
                           roles=ROLES, variables=VARS)[1]
    assert (problems == []) is ok, problems
    if cond["var"] == "ghost":
        assert problems[0].code == "rule_variable_undeclared"


# -- conditions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "actual", "value", "expected"), [
    ("eq", "EU", "EU", True), ("eq", "eu", "EU", False), ("ne", "US", "EU", True),
    ("eq", 5, 5.0, True), ("eq", "5", 5, True), ("eq", "5", "5.0", False),
    ("eq", True, 1, False), ("eq", None, None, True), ("ne", routing.MISSING, "EU", True),
    ("eq", routing.MISSING, None, False),
    ("gt", {"amount": "60000.00", "currency": "USD"}, 50000, True),
    ("gt", {"amount": "50000.00", "currency": "USD"}, 50000, False),
    ("gte", {"amount": "50000.00", "currency": "USD"}, 50000, True),
    ("lt", 3, 4, True), ("lte", 4, 4, True), ("gt", "2026-02-01", "2026-01-31", True),
    ("gt", "abc", 1, False), ("gt", None, 1, False), ("gt", routing.MISSING, 1, False),
    ("in", "EU", ("US", "EU"), True), ("not_in", "EU", ("US",), True),
    ("in", routing.MISSING, ("US",), False), ("not_in", routing.MISSING, ("US",), True),
    ("exists", "x", None, True), ("exists", "", None, False), ("exists", [], None, False),
    ("exists", None, None, False), ("exists", routing.MISSING, None, False),
    ("exists", 0, None, True), ("exists", False, None, True),
])
def test_comparisons(op: str, actual: Any, value: Any, expected: bool) -> None:
    assert holds(op, actual, value) is expected


def test_reasons_name_every_value_read() -> None:
    (r,) = parsed(rule({"any": [{"var": "fee", "op": "gt", "value": 50000},
                                {"not": {"var": "region", "op": "eq", "value": "US"}}]},
                       {"action": "skip_role", "role": "copy"}))
    values: dict[str, Any] = {}
    ok, why = routing.check(r.when, {"fee": 60000, "region": "US"}, values)
    assert ok and values == {"fee": 60000, "region": "US"}
    assert why == "(fee is 60000 (> 50000: true) or not (region is 'US' (= 'US': true)))"
    values = {}
    ok, why = routing.check(r.when, {"region.x": 1}, values)
    assert ok and values == {"fee": None, "region": None}  # missing is never equal
    assert "fee is missing" in why


def test_paths_read_nested_flat_and_list_values() -> None:
    data = {"customer": {"region": "EU"}, "a.b": 1, "rows": [{"n": 2}]}
    assert routing.lookup(data, "customer.region") == "EU"
    assert routing.lookup(data, "a.b") == 1
    assert routing.lookup(data, "rows.0.n") == 2
    assert routing.lookup(data, "rows.5.n") is routing.MISSING
    assert routing.pick(data, ["customer.region", "rows.0", "nope"]) == {
        "customer.region": "EU", "rows.0": {"n": 2}}


# -- actions and evaluation ----------------------------------------------------------------


def test_add_before_inserts_a_step_and_moves_later_ones_up() -> None:
    rules = parsed(rule({"var": "fee", "op": "gt", "value": 50000},
                        {"action": "add_recipient", "role": "legal", "before": "customer"}))
    plan = evaluate(rules, {"fee": 60000}, BASE[:4])
    assert orders(plan) == {"legal": 1, "customer": 2, "provider": 3, "copy": 4}
    (d,) = plan.decisions
    assert d.fired and d.changes[0].summary == "added legal at order 1, before customer"
    plan = evaluate(rules, {"fee": 100}, BASE[:4])
    assert orders(plan) == {"customer": 1, "provider": 2, "copy": 3}  # legal only if added
    assert plan.decisions[0].changes == ()


def test_add_after_at_order_and_at_declared_order() -> None:
    rules = parsed(
        rule({"var": "a", "op": "exists"},
             {"action": "add_recipient", "role": "legal", "after": "customer"}, rid="a"),
        rule({"var": "a", "op": "exists"},
             {"action": "add_recipient", "role": "dpo", "routing_order": 7}, rid="b"))
    assert orders(evaluate(rules, {"a": 1}, BASE)) == {
        "customer": 1, "legal": 2, "provider": 3, "copy": 4, "dpo": 7}
    rules = parsed(rule({"var": "a", "op": "exists"},
                        {"action": "add_recipient", "role": "legal"},
                        {"action": "skip_role", "role": "customer"},
                        {"action": "add_recipient", "role": "dpo", "before": "customer"}))
    plan = evaluate(rules, {"a": 1}, BASE)
    assert orders(plan) == {"provider": 2, "copy": 3, "legal": 1, "dpo": 1}
    assert "customer is not on the envelope" in plan.decisions[0].changes[-1].summary


def test_skip_set_order_reorder_require_auth() -> None:
    rules = parsed(rule({"var": "a", "op": "exists"},
                        {"action": "skip_role", "role": "copy"},
                        {"action": "set_order", "role": "customer", "routing_order": 5},
                        {"action": "reorder", "role": "customer", "before": "provider"},
                        {"action": "require_auth", "role": "provider", "method": "sms_otp"},
                        {"action": "require_auth", "role": "provider", "method": "sms_otp"},
                        {"action": "skip_role", "role": "legal"}))
    plan = evaluate(rules, {"a": 1}, BASE[:3])  # legal: not in this routing, ignored
    assert orders(plan) == {"customer": 2, "provider": 3}
    assert plan.slot("provider") == Slot("provider", "signer", 3, ("sms_otp",))
    assert [c.action for c in plan.decisions[0].changes] == [
        "skip_role", "set_order", "reorder", "require_auth"]  # no-ops are not changes


def test_reorder_when_already_in_place_changes_nothing() -> None:
    rules = parsed(rule({"var": "a", "op": "exists"},
                        {"action": "reorder", "role": "customer", "before": "provider"},
                        {"action": "reorder", "role": "provider", "after": "customer"},
                        {"action": "set_order", "role": "copy", "routing_order": 3}))
    plan = evaluate(rules, {"a": 1}, BASE[:3])
    assert orders(plan) == {"customer": 1, "provider": 2, "copy": 3}
    assert plan.decisions[0].changes == ()


def test_decisions_serialise() -> None:
    rules = parsed(rule({"var": "fee", "op": "gt", "value": 1},
                        {"action": "add_recipient", "role": "legal"}))
    d = evaluate(rules, {"fee": {"amount": "5.50", "currency": "EUR"}}, BASE).decisions[0]
    assert d.as_json() == {
        "rule_id": "r1", "description": "rule r1", "fired": True,
        "values": {"fee": {"amount": "5.50", "currency": "EUR"}},
        "reason": "fee is EUR 5.50 (> 1: true)",
        "changes": [{"action": "add_recipient", "role": "legal",
                     "summary": "added legal at order 1"}]}


# -- properties ----------------------------------------------------------------------------

ROLE_KEYS = sorted(ROLES)
conditions = st.recursive(
    st.builds(lambda v, op, x: {"var": v, "op": op, "value": x} if op != "exists"
              else {"var": v, "op": op},
              st.sampled_from(["fee", "region", "n"]),
              st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "exists"]),
              st.one_of(st.integers(-5, 100_000), st.sampled_from(["EU", "US"]))),
    lambda inner: st.one_of(st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1,
                                                                          max_size=3)),
                            st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1,
                                                                          max_size=3)),
                            st.builds(lambda x: {"not": x}, inner)),
    max_leaves=5)


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(routing.ACTIONS))
    role = draw(st.sampled_from(["customer", "provider", "legal", "dpo"]))
    other = draw(st.sampled_from([k for k in ROLE_KEYS if k != role]))
    extra: dict[str, Any]
    if kind == "add_recipient":
        extra = draw(st.sampled_from([{}, {"before": other}, {"after": other},
                                      {"routing_order": draw(st.integers(1, 9))}]))
    elif kind == "set_order":
        extra = {"routing_order": draw(st.integers(1, 9))}
    elif kind == "reorder":
        extra = draw(st.sampled_from([{"before": other}, {"after": other}]))
    elif kind == "require_auth":
        extra = {"method": draw(st.sampled_from(["sms_otp", "email_otp", "kba"]))}
    else:
        extra = {}
    return {"action": kind, "role": role, **extra}


rule_lists = st.lists(st.builds(lambda w, t: {"when": w, "then": t}, conditions,
                                st.lists(actions(), min_size=1, max_size=3)),
                      max_size=5).map(lambda rs: [{"id": f"r{i}", "description": "d", **r}
                                                  for i, r in enumerate(rs)])
datas = st.fixed_dictionaries({}, optional={
    "fee": st.one_of(st.integers(0, 100_000),
                     st.builds(lambda a: {"amount": f"{a}.00", "currency": "USD"},
                               st.integers(0, 100_000))),
    "region": st.sampled_from(["EU", "US", ""]), "n": st.none()})


@settings(max_examples=150, deadline=None)
@given(rule_lists, datas)
def test_evaluation_is_deterministic_idempotent_and_never_duplicates(
        raw: list[dict[str, Any]], data: dict[str, Any]) -> None:
    rules, problems = parse_rules(raw, roles=ROLES)
    assert problems == []
    plan = evaluate(rules, data, BASE)
    assert evaluate(rules, data, BASE) == plan  # before each routing step: the same plan
    keys = [s.key for s in plan.slots]
    assert len(keys) == len(set(keys))  # nobody twice
    added = routing.added_roles(rules)
    for s in plan.slots:
        assert s.routing_order >= 1
        if s.key in added:  # a rule-added role is only there when a rule that adds it fired
            assert any(d.fired and any(c.role == s.key and c.action == "add_recipient"
                                       for c in d.changes) for d in plan.decisions)
    assert [d.rule_id for d in plan.decisions] == [r.id for r in rules]
    for d in plan.decisions:
        assert d.fired or d.changes == ()
        assert set(d.values) <= {"fee", "region", "n"}
    # stored and re-parsed rules decide the same
    again, _ = parse_rules(routing.rules_json(rules), roles=ROLES)
    assert evaluate(again, routing.pick(data, routing.variables_read(rules)), BASE) == plan
