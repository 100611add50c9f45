"""Conditional routing rules: a small declarative language in JSON. Pure: no database, no
web, no I/O, no ``eval`` and no template engine.

A rule::

    {"id": "legal-over-50k",
     "description": "Contract value over 50,000 adds the Legal approver before the customer",
     "when": {"var": "annual_fee", "op": "gt", "value": 50000},
     "then": [{"action": "add_recipient", "role": "legal", "before": "customer"}]}

Conditions: ``{"var": path, "op": op, "value": v}`` with op one of eq, ne, gt, gte, lt,
lte, in, not_in, exists (no value); combined with ``{"all": [...]}``, ``{"any": [...]}``
and ``{"not": {...}}``.

Actions (``role`` is a template role key, or a recipient ``key`` for API envelopes):

* ``add_recipient`` -- the role joins the envelope: ``"before"``/``"after"`` another role
  (a new routing step right before/after that role's step; later steps move up by one),
  or at ``"routing_order"`` n, or at the role's declared order. A role that some rule adds
  is on the envelope only when such a rule fires.
* ``skip_role`` -- the role leaves the envelope.
* ``set_order`` -- the role moves to ``"routing_order"`` n.
* ``reorder`` -- the role moves to a new step right ``"before"``/``"after"`` another role's
  (nothing happens when it already is before/after it).
* ``require_auth`` -- the role must pass ``"method"`` (factors joined by "+": email_otp,
  sms_otp, access_code, kba) on top of what it already requires.

``evaluate`` always starts from the declared routing (``Slot`` list) and applies the rules
in order, so it is deterministic and idempotent: evaluating again (before each routing
step) gives the same plan and never adds anyone twice. Each rule yields a ``Decision``:
whether it fired, the actual values its condition read, a readable reason and what changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from accord.dotted import MISSING
from accord.dotted import lookup as dotted_lookup
from accord.envelopes.routing.parse import (
    ACTIONS,
    FACTORS,
    OPS,
    Action,
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Not,
    Rule,
    RuleProblem,
    VarInfo,
    added_roles,
    number,
    parse_rules,
    rules_json,
    variables_read,
)

__all__ = [
    "ACTIONS", "FACTORS", "MISSING", "OPS", "Action", "AllOf", "AnyOf", "Change", "Compare",
    "Condition", "Decision", "Not", "Plan", "Rule", "RuleProblem", "Slot", "VarInfo",
    "added_roles", "check", "evaluate", "holds", "jsonable", "lookup", "parse_rules", "pick",
    "rules_json", "variables_read",
]


# -- values --------------------------------------------------------------------------------


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (a flat dotted key first, then nested objects and list
    indexes); ``MISSING`` when there is none."""
    return data[path] if path in data else dotted_lookup(data, path)


def pick(data: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """The values of ``paths`` as a flat ``{path: value}`` (missing ones left out): the
    data an envelope keeps to evaluate its rules again."""
    return {p: jsonable(v) for p in paths if (v := lookup(data, p)) is not MISSING}


def jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else str(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    na, nb = number(a), number(b)
    if na is not None and nb is not None and not (isinstance(a, str) and isinstance(b, str)):
        return na == nb
    return bool(a == b)


def _ordered(a: Any, op: str, b: Any) -> bool:
    na, nb = number(a), number(b)
    left: Any
    right: Any
    if na is not None and nb is not None and not (isinstance(a, str) and isinstance(b, str)):
        left, right = na, nb
    elif isinstance(a, str) and isinstance(b, str):
        left, right = a, b
    else:
        return False
    return bool({"gt": left > right, "gte": left >= right, "lt": left < right,
                 "lte": left <= right}[op])


def _given(v: Any) -> bool:
    return v is not MISSING and v is not None and v not in ("", [], {})


def holds(op: str, actual: Any, value: Any) -> bool:
    """One comparison. A missing value is never equal, in, greater or smaller (so ne and
    not_in hold for it); ``exists`` wants a value that is not null, empty text or empty."""
    if op == "exists":
        return _given(actual)
    if op in ("eq", "ne"):
        same = actual is not MISSING and _equal(actual, value)
        return same if op == "eq" else not same
    if op in ("in", "not_in"):
        inside = actual is not MISSING and any(_equal(actual, v) for v in value)
        return inside if op == "in" else not inside
    return actual is not MISSING and actual is not None and _ordered(actual, op, value)


def _show(v: Any) -> str:
    if v is MISSING:
        return "missing"
    if isinstance(v, Mapping) and "amount" in v and "currency" in v:
        return f"{v['currency']} {v['amount']}"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bool) or v is None:
        return str(v).lower() if v is not None else "null"
    return str(jsonable(v))


_SYMBOL = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
           "in": "in", "not_in": "not in", "exists": "exists"}


def check(cond: Condition, data: Mapping[str, Any],
          values: dict[str, Any]) -> tuple[bool, str]:
    """(whether the condition holds, a readable reason); every value read goes in
    ``values`` (every branch is evaluated, so the reason names them all)."""
    if isinstance(cond, Compare):
        actual = lookup(data, cond.var)
        values[cond.var] = None if actual is MISSING else jsonable(actual)
        ok = holds(cond.op, actual, cond.value)
        if cond.op == "exists":
            return ok, f"{cond.var} is {_show(actual)} (exists: {str(ok).lower()})"
        want = ("[" + ", ".join(_show(v) for v in cond.value) + "]"
                if isinstance(cond.value, tuple) else _show(cond.value))
        return ok, (f"{cond.var} is {_show(actual)} ({_SYMBOL[cond.op]} {want}: "
                    f"{str(ok).lower()})")
    if isinstance(cond, Not):
        ok, why = check(cond.item, data, values)
        return not ok, f"not ({why})"
    results = [check(c, data, values) for c in cond.items]
    ok = all(r[0] for r in results) if isinstance(cond, AllOf) else any(r[0] for r in results)
    joiner = " and " if isinstance(cond, AllOf) else " or "
    return ok, "(" + joiner.join(r[1] for r in results) + ")" if len(results) > 1 \
        else results[0][1]


# -- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A recipient of the declared routing (before any rule), by role key."""

    key: str
    type: str  # signer, approver, cc
    routing_order: int
    auth: tuple[str, ...] = ()  # factors beyond the email link

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "type": self.type, "routing_order": self.routing_order,
                "auth": list(self.auth)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Slot:
        return cls(str(raw["key"]), str(raw["type"]), int(raw["routing_order"]),
                   tuple(raw.get("auth") or ()))


@dataclass(frozen=True)
class Change:
    action: str
    role: str
    summary: str

    def as_json(self) -> dict[str, str]:
        return {"action": self.action, "role": self.role, "summary": self.summary}


@dataclass(frozen=True)
class Decision:
    rule_id: str
    description: str
    fired: bool
    values: dict[str, Any]
    reason: str
    changes: tuple[Change, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "description": self.description,
                "fired": self.fired, "values": self.values, "reason": self.reason,
                "changes": [c.as_json() for c in self.changes]}


@dataclass(frozen=True)
class Plan:
    """The routing after the rules: who is on the envelope, at which order, with which
    factors (in the declared order of the slots), and the decision of every rule."""

    slots: tuple[Slot, ...]
    decisions: tuple[Decision, ...] = field(default_factory=tuple)

    def slot(self, key: str) -> Slot | None:
        return next((s for s in self.slots if s.key == key), None)


class _Work:
    def __init__(self, base: Sequence[Slot], optional: frozenset[str]) -> None:
        self.base = {s.key: s for s in base}
        self.order = {s.key: s.routing_order for s in base if s.key not in optional}
        self.auth = {s.key: s.auth for s in base}

    def insert(self, key: str, target: str, after: bool) -> int:
        """A new step for ``key`` right before/after ``target``'s; later ones move up."""
        self.order.pop(key, None)
        at = self.order[target] + (1 if after else 0)
        for k, o in self.order.items():
            if o >= at:
                self.order[k] = o + 1
        self.order[key] = at
        return at

    def apply(self, a: Action) -> Change | None:
        if a.kind == "add_recipient":
            return None if a.role in self.order else self.add(a)
        if a.role not in self.order:
            return None
        step = {"skip_role": self.skip, "set_order": self.set_order, "reorder": self.reorder,
                "require_auth": self.require_auth}[a.kind]
        return step(a)

    def add(self, a: Action) -> Change:
        target = a.before or a.after
        if target is not None and target in self.order:
            at = self.insert(a.role, target, a.after is not None)
            where = f"{'after' if a.after else 'before'} {target}"
            return Change(a.kind, a.role, f"added {a.role} at order {at}, {where}")
        self.order[a.role] = a.routing_order or self.base[a.role].routing_order
        note = f" ({target} is not on the envelope)" if target is not None else ""
        return Change(a.kind, a.role, f"added {a.role} at order {self.order[a.role]}{note}")

    def skip(self, a: Action) -> Change:
        del self.order[a.role]
        return Change(a.kind, a.role, f"skipped {a.role}")

    def set_order(self, a: Action) -> Change | None:
        old = self.order[a.role]
        if a.routing_order is None or old == a.routing_order:
            return None
        self.order[a.role] = a.routing_order
        return Change(a.kind, a.role, f"moved {a.role} from order {old} to {a.routing_order}")

    def reorder(self, a: Action) -> Change | None:
        target = a.before or a.after
        if target is None or target not in self.order:
            return None
        mine, theirs = self.order[a.role], self.order[target]
        if (mine < theirs) if a.before else (mine > theirs):
            return None
        at = self.insert(a.role, target, a.after is not None)
        return Change(a.kind, a.role, f"moved {a.role} from order {mine} to {at}, "
                      f"{'after' if a.after else 'before'} {target}")

    def require_auth(self, a: Action) -> Change | None:
        had = self.auth[a.role]
        now = tuple(f for f in FACTORS if f in had or f in a.method)
        if now == had:
            return None
        self.auth[a.role] = now
        return Change(a.kind, a.role, f"{a.role} must pass {'+'.join(now)}")


def evaluate(rules: Sequence[Rule], data: Mapping[str, Any], base: Sequence[Slot]) -> Plan:
    """Apply the rules, in order, to the declared routing. Roles that some rule adds start
    off the envelope. Deterministic and idempotent (a function of its arguments only)."""
    known = {s.key for s in base}
    work = _Work(base, added_roles(rules) & known)
    decisions = []
    for rule in rules:
        values: dict[str, Any] = {}
        fired, reason = check(rule.when, data, values)
        changes: list[Change] = []
        if fired:
            for action in rule.then:
                if action.role not in known:
                    continue
                change = work.apply(action)
                if change is not None:
                    changes.append(change)
        decisions.append(Decision(rule.id, rule.description, fired, values, reason,
                                  tuple(changes)))
    slots = tuple(Slot(s.key, s.type, work.order[s.key], work.auth[s.key])
                  for s in base if s.key in work.order)
    return Plan(slots, tuple(decisions))
