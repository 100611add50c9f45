"""Parsing routing rules (see ``accord.envelopes.routing``): the rule language's types and
a parser that reports every problem at once, each with a stable code. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists")
ORDERING_OPS = frozenset({"gt", "gte", "lt", "lte"})
ACTIONS = ("add_recipient", "skip_role", "set_order", "reorder", "require_auth")
FACTORS = ("email_otp", "sms_otp", "access_code", "kba")  # canonical order
MAX_RULES = 50
MAX_ACTIONS = 10
MAX_NODES = 50  # conditions in one rule
MAX_DEPTH = 8
MAX_LIST = 100  # values of in / not_in
MAX_DESCRIPTION = 300
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VAR_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+){0,15}$")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")

# -- the parsed language -------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    var: str
    op: str
    value: Any = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"var": self.var, "op": self.op}
        if self.op != "exists":
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        return out


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]

    def as_json(self) -> dict[str, Any]:
        return {"all": [c.as_json() for c in self.items]}


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]

    def as_json(self) -> dict[str, Any]:
        return {"any": [c.as_json() for c in self.items]}


@dataclass(frozen=True)
class Not:
    item: Condition

    def as_json(self) -> dict[str, Any]:
        return {"not": self.item.as_json()}


Condition = Compare | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Action:
    kind: str
    role: str
    before: str | None = None
    after: str | None = None
    routing_order: int | None = None
    method: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.kind, "role": self.role}
        for name in ("before", "after", "routing_order"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.method:
            out["method"] = "+".join(self.method)
        return out


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    when: Condition
    then: tuple[Action, ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "when": self.when.as_json(),
                "then": [a.as_json() for a in self.then]}


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with the rules; ``field`` says where (``rules[0].when.op``)."""

    field: str
    code: str
    message: str


@dataclass(frozen=True)
class VarInfo:
    """What the parser may know of a declared variable, to check values against it."""

    type: str  # text, number, money, date, enum, boolean, list
    options: tuple[str, ...] = ()


# -- parsing -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, roles: Mapping[str, str] | None,
                 variables: Mapping[str, VarInfo] | None) -> None:
        self.roles = roles
        self.variables = variables
        self.problems: list[RuleProblem] = []
        self.nodes = 0

    def bad(self, where: str, code: str, message: str) -> None:
        self.problems.append(RuleProblem(where, code, f"{where}: {message}"))

    # rules ----------------------------------------------------------------------------

    def rule(self, where: str, item: Any, seen: set[str]) -> Rule | None:
        if not isinstance(item, Mapping):
            self.bad(where, "rule_invalid", "a rule is an object with id, description, "
                     "when and then")
            return None
        before = len(self.problems)
        unknown = sorted(set(item) - {"id", "description", "when", "then"})
        if unknown:
            self.bad(where, "rule_invalid", f"unknown properties {unknown}")
        rid, desc = item.get("id"), item.get("description")
        if not isinstance(rid, str) or not RULE_ID.fullmatch(rid):
            self.bad(f"{where}.id", "rule_id_invalid", "an id of 1-64 characters a-z, 0-9, "
                     "_, . and -, starting with a letter or digit, is required")
        elif rid in seen:
            self.bad(f"{where}.id", "rule_id_duplicate", f"rule id {rid!r} is used twice")
        else:
            seen.add(rid)
        if not isinstance(desc, str) or not desc.strip() or len(desc) > MAX_DESCRIPTION:
            self.bad(f"{where}.description", "rule_description_invalid",
                     f"a description of 1-{MAX_DESCRIPTION} characters is required")
        self.nodes = 0
        when = self.condition(f"{where}.when", item.get("when"), 0)
        then = self.actions(f"{where}.then", item.get("then"))
        if len(self.problems) > before or when is None:
            return None
        return Rule(str(rid), str(desc).strip(), when, tuple(then))

    # conditions -----------------------------------------------------------------------

    def condition(self, where: str, item: Any, depth: int) -> Condition | None:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.bad(where, "rule_condition_invalid", f"at most {MAX_NODES} conditions "
                     "in one rule")
        shape = [k for k in ("var", "all", "any", "not") if k in item] \
            if isinstance(item, Mapping) else []
        if depth > MAX_DEPTH:
            self.bad(where, "rule_condition_invalid", f"conditions nest at most {MAX_DEPTH} "
                     "deep")
        elif len(shape) != 1:
            self.bad(where, "rule_condition_invalid", "a condition is an object with exactly "
                     "one of: {var, op, value}, {all: [...]}, {any: [...]}, {not: {...}}")
        elif shape[0] == "var":
            return self.compare(where, item)
        else:
            return self.combined(where, shape[0], item, depth)
        return None

    def combined(self, where: str, kind: str, item: Mapping[str, Any],
                 depth: int) -> Condition | None:
        if len(item) != 1:
            self.bad(where, "rule_condition_invalid",
                     f"unknown properties {sorted(set(item) - {kind})}")
        if kind == "not":
            inner = self.condition(f"{where}.not", item["not"], depth + 1)
            return None if inner is None else Not(inner)
        raw = item[kind]
        if not isinstance(raw, list) or not raw:
            self.bad(f"{where}.{kind}", "rule_condition_invalid",
                     f"{kind} takes a non-empty list of conditions")
            return None
        parts = [self.condition(f"{where}.{kind}[{i}]", c, depth + 1)
                 for i, c in enumerate(raw)]
        items = tuple(p for p in parts if p is not None)
        if len(items) != len(parts):
            return None
        return AllOf(items) if kind == "all" else AnyOf(items)

    def compare(self, where: str, item: Mapping[str, Any]) -> Compare | None:
        before = len(self.problems)
        unknown = sorted(set(item) - {"var", "op", "value"})
        if unknown:
            self.bad(where, "rule_condition_invalid", f"unknown properties {unknown}")
        var, op = item.get("var"), item.get("op")
        if not isinstance(var, str) or not VAR_PATH.fullmatch(var):
            self.bad(f"{where}.var", "rule_condition_invalid",
                     "var must be a dotted variable path like 'customer.region'")
            var = None
        if op not in OPS:
            self.bad(f"{where}.op", "rule_operator_invalid", f"op must be one of {list(OPS)}")
            return None
        info = self.declared(where, var) if var is not None else None
        value = self.value(where, str(op), item, info)
        if len(self.problems) > before or var is None:
            return None
        return Compare(var, str(op), value)

    def declared(self, where: str, var: str) -> VarInfo | None:
        if self.variables is None:
            return None
        if var in self.variables:
            return self.variables[var]
        head, _, tail = var.rpartition(".")
        parent = self.variables.get(head)
        if parent is not None and parent.type == "money" and tail in ("amount", "currency"):
            return VarInfo("number" if tail == "amount" else "text")
        self.bad(f"{where}.var", "rule_variable_undeclared", f"{var!r} is not a declared "
                 f"variable (declared: {', '.join(sorted(self.variables)) or 'none'})")
        return None

    def value(self, where: str, op: str, item: Mapping[str, Any],
              info: VarInfo | None) -> Any:
        if op == "exists" or "value" not in item:
            if (op == "exists") == ("value" in item):
                self.bad(f"{where}.value", "rule_value_invalid",
                         "exists takes no value" if op == "exists" else f"{op} needs a value")
            return None
        raw = item["value"]
        if op in ("in", "not_in"):
            return self.values(where, op, raw, info)
        problem = ("the value is a text, number, boolean or null" if not _scalar(raw) else
                   f"{op} compares with a number or a text (e.g. an ISO date)"
                   if op in ORDERING_OPS and (raw is None or isinstance(raw, bool)) else None)
        if problem:
            self.bad(f"{where}.value", "rule_value_invalid", problem)
            return None
        self.typed(where, op, raw, info)
        return raw

    def values(self, where: str, op: str, raw: Any, info: VarInfo | None) -> Any:
        if (not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LIST
                or not all(_scalar(v) for v in raw)):
            self.bad(f"{where}.value", "rule_value_invalid", f"{op} takes a list of "
                     f"1-{MAX_LIST} texts, numbers, booleans or nulls")
            return None
        for v in raw:
            self.typed(where, op, v, info)
        return tuple(raw)

    def typed(self, where: str, op: str, value: Any, info: VarInfo | None) -> None:
        """Values must suit the declared type (catches 'Enterprise' for 'enterprise')."""
        if info is None or value is None:
            return
        t = info.type
        ok = True
        if t == "list" or (t in ("enum", "boolean") and op in ORDERING_OPS):
            self.bad(f"{where}.op", "rule_operator_invalid",
                     f"a {t} variable cannot be compared with {op}")
            return
        if t == "enum":
            ok = value in info.options
        elif t == "boolean":
            ok = isinstance(value, bool)
        elif t in ("number", "money"):
            ok = number(value) is not None and not isinstance(value, str)
        elif t == "date":
            ok = isinstance(value, str) and _iso_date(value)
        elif t == "text":
            ok = isinstance(value, str)
        if not ok:
            hint = f" (options: {', '.join(info.options)})" if t == "enum" else ""
            self.bad(f"{where}.value", "rule_value_invalid",
                     f"{value!r} is not a valid {t} value{hint}")

    # actions --------------------------------------------------------------------------

    def actions(self, where: str, raw: Any) -> list[Action]:
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ACTIONS:
            self.bad(where, "rule_action_invalid",
                     f"then takes a list of 1-{MAX_ACTIONS} actions")
            return []
        out = []
        for i, item in enumerate(raw):
            action = self.action(f"{where}[{i}]", item)
            if action is not None:
                out.append(action)
        return out

    def action(self, where: str, item: Any) -> Action | None:
        if not isinstance(item, Mapping) or item.get("action") not in ACTIONS:
            self.bad(where, "rule_action_invalid", f"an action is an object whose action is "
                     f"one of {list(ACTIONS)}")
            return None
        before = len(self.problems)
        kind = str(item["action"])
        allowed = {"action", "role", *_ACTION_KEYS[kind]}
        unknown = sorted(set(item) - allowed)
        if unknown:
            self.bad(where, "rule_action_invalid", f"{kind} takes no {unknown}")
        role = self.role(f"{where}.role", item.get("role"))
        targets = {k: self.role(f"{where}.{k}", item[k]) for k in ("before", "after")
                   if k in item}
        if role is not None and role in targets.values():
            self.bad(where, "rule_action_invalid", "a role cannot move before or after itself")
        order = item.get("routing_order")
        if "routing_order" in item and (isinstance(order, bool) or not isinstance(order, int)
                                        or not 1 <= order <= 100):
            self.bad(f"{where}.routing_order", "rule_action_invalid",
                     "routing_order is an integer 1-100")
        placed = len(targets) + ("routing_order" in item)
        if kind == "add_recipient" and placed > 1:
            self.bad(where, "rule_action_invalid", "add_recipient takes at most one of "
                     "before, after, routing_order")
        if kind == "reorder" and len(targets) != 1:
            self.bad(where, "rule_action_invalid", "reorder takes exactly one of before, after")
        if kind == "set_order" and "routing_order" not in item:
            self.bad(where, "rule_action_invalid", "set_order needs routing_order")
        method: tuple[str, ...] = ()
        if kind == "require_auth":
            method = self.method(f"{where}.method", item.get("method"))
            if role is not None and self.roles is not None and self.roles.get(role) == "cc":
                self.bad(f"{where}.role", "rule_auth_invalid",
                         f"role {role!r} is cc: it does not sign, so it does not authenticate")
        if len(self.problems) > before or role is None:
            return None
        return Action(kind, role, before=targets.get("before"), after=targets.get("after"),
                      routing_order=order if isinstance(order, int) else None, method=method)

    def role(self, where: str, raw: Any) -> str | None:
        if not isinstance(raw, str) or not ROLE_KEY.fullmatch(raw):
            self.bad(where, "rule_action_invalid", "a role key ([a-z][a-z0-9_]*) is required")
            return None
        if self.roles is not None and raw not in self.roles:
            self.bad(where, "rule_role_undeclared", f"role {raw!r} is not declared "
                     f"(declared: {', '.join(sorted(self.roles)) or 'none'})")
            return None
        return raw

    def method(self, where: str, raw: Any) -> tuple[str, ...]:
        parts = raw.split("+") if isinstance(raw, str) else []
        parts = [p for p in parts if p != "email_link"]
        if not parts or len(set(parts)) != len(parts) or not set(parts) <= set(FACTORS):
            self.bad(where, "rule_auth_invalid", f"method is one or more of {list(FACTORS)} "
                     "joined by '+' (e.g. 'sms_otp')")
            return ()
        return tuple(f for f in FACTORS if f in parts)


_ACTION_KEYS: dict[str, frozenset[str]] = {
    "add_recipient": frozenset({"before", "after", "routing_order"}),
    "skip_role": frozenset(),
    "set_order": frozenset({"routing_order"}),
    "reorder": frozenset({"before", "after"}),
    "require_auth": frozenset({"method"}),
}


def parse_rules(raw: Any, *, roles: Mapping[str, str] | None = None,
                variables: Mapping[str, VarInfo] | None = None,
                ) -> tuple[list[Rule], list[RuleProblem]]:
    """Rules as declared, and every problem with them. ``roles`` maps the role keys the
    rules may name to their type (signer/approver/cc); ``variables`` the declared variables
    the conditions may read (``None``: any path, as for API envelopes without a template)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [RuleProblem("rules", "rules_invalid", "rules: must be a list of rules")]
    parser = _Parser(roles, variables)
    if len(raw) > MAX_RULES:
        parser.bad("rules", "too_many_rules", f"at most {MAX_RULES} rules")
    seen: set[str] = set()
    rules = [r for i, item in enumerate(raw[:MAX_RULES])
             if (r := parser.rule(f"rules[{i}]", item, seen)) is not None]
    return (rules if not parser.problems else []), parser.problems


def rules_json(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    return [r.as_json() for r in rules]


def added_roles(rules: Iterable[Rule]) -> frozenset[str]:
    """Roles that are on an envelope only when a rule adds them."""
    return frozenset(a.role for r in rules for a in r.then if a.kind == "add_recipient")


def variables_read(rules: Iterable[Rule]) -> list[str]:
    """Every variable path the rules' conditions read, sorted."""
    out: set[str] = set()

    def walk(c: Condition) -> None:
        if isinstance(c, Compare):
            out.add(c.var)
        elif isinstance(c, Not):
            walk(c.item)
        else:
            for x in c.items:
                walk(x)

    for r in rules:
        walk(r.when)
    return sorted(out)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | bool | int) or (
        isinstance(v, float) and math.isfinite(v))


def _iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def number(v: Any) -> Decimal | None:
    """Numbers, numeric texts and money (``{"amount", "currency"}``, by amount)."""
    if isinstance(v, Mapping) and "amount" in v and "currency" in v:
        v = v["amount"]
    if isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
        v = Decimal(v.strip())
    if isinstance(v, float) and math.isfinite(v):
        v = Decimal(repr(v))
    return Decimal(v) if isinstance(v, int | Decimal) and not isinstance(v, bool) else None
