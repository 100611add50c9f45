"""What bulk send needs from drafting: a published version read once for many rows, the
check of one row's data and recipients (no rendering: that is the workers' job), and one
row's envelope built inside the caller's transaction.

Published versions never change, so a process keeps what it read of one (``prepared``)
and the documents it rendered (keyed by the SHA-256 of version and data). The engine
renders equal input to equal bytes, and the blob store is content-addressed: identical
documents of a batch are rendered once per worker process and stored once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.drafting import variables
from accord.drafting.domain import Action, RoleSpec, VersionStatus, label, parse_roles
from accord.drafting.render.values import to_json
from accord.drafting.services.common import (
    latest_published,
    load_template_version_by_id,
    require,
)
from accord.drafting.services.render import RenderPlan, plan_for, run
from accord.drafting.services.use import (
    _fields,
    _given,
    _Ready,
    _recipient,
    keep_contract_values,
)
from accord.drafting.services.versions import TEMPLATES
from accord.envelopes import routing
from accord.envelopes import services as envelopes
from accord.envelopes.services import TemplateRef
from accord.errors import Conflict, NotFound
from accord.runtime import Runtime

_CACHE_SIZE = 64
_lock = threading.Lock()
_prepared: OrderedDict[str, Prepared] = OrderedDict()
_rendered: OrderedDict[str, tuple[bytes, tuple[Any, ...]]] = OrderedDict()


@dataclass(frozen=True)
class Prepared:
    """A published template version as bulk send uses it."""

    org_id: str
    version_id: str
    key: str
    name: str
    version: int
    label: str
    kind: str
    source_sha256: str
    pins: dict[str, Any]
    specs: tuple[variables.VariableSpec, ...]
    roles: tuple[RoleSpec, ...]
    plan: RenderPlan | None  # None: a pdf template
    pdf_blob: str | None
    pdf_fields: tuple[Any, ...]
    rules: tuple[Any, ...] = ()  # routing rules of the version
    optional_roles: frozenset[str] = frozenset()  # roles that rules add: may be left out
    contract: dict[str, Any] | None = None  # the contract section (drafting.contract)

    @property
    def variable_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.specs)

    @property
    def list_variables(self) -> frozenset[str]:
        return frozenset(s.name for s in self.specs if s.type == "list")

    @property
    def phone_roles(self) -> frozenset[str]:
        return frozenset(r.key for r in self.roles if "sms_otp" in r.auth.split("+"))

    @property
    def unsupported_roles(self) -> list[str]:
        """Roles whose sign-in needs something a CSV cannot carry (access code, KBA)."""
        return [r.key for r in self.roles
                if {"access_code", "kba"} & set(r.auth.split("+"))]


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _read(rt: Runtime, s: Session, org_id: str, version_id: str) -> Prepared:
    tpl, row = load_template_version_by_id(s, org_id, version_id)
    if row.status != VersionStatus.PUBLISHED:
        raise Conflict(f"version {row.version} of {tpl.key!r} is {row.status}; only "
                       "published versions make envelopes", code="template_version_not_published")
    roles, _ = parse_roles(row.roles)
    rules, _ = routing.parse_rules(row.rules or [])
    return Prepared(
        org_id=org_id, version_id=row.id, key=tpl.key, name=tpl.name, version=row.version,
        label=label(tpl.key, row.version), kind=tpl.kind,
        source_sha256=row.source_sha256 or "", pins=dict(row.pinned_clauses),
        specs=tuple(variables.parse_specs(row.variables)), roles=tuple(roles),
        plan=None if tpl.kind == "pdf" else plan_for(s, tpl, row), pdf_blob=row.pdf_blob,
        pdf_fields=tuple(row.pdf_fields), rules=tuple(row.rules or []),
        optional_roles=frozenset(routing.added_roles(rules)), contract=row.contract)


def published_version(rt: Runtime, principal: Principal, template_key: str,
                      version: int | None = None) -> Prepared:
    """The version a batch uses: ``version`` (it must be published), else the latest
    published one. The caller must be allowed to make envelopes from templates."""
    require(principal, Action.USE)
    principal.require(Permission.ENVELOPE_SEND)
    with rt.db.uow() as uow:
        s = uow.session
        tpl = TEMPLATES.load(s, principal.org_id, template_key)
        versions = TEMPLATES.versions(s, tpl.id)
        row = latest_published(versions) if version is None else next(
            (v for v in versions if v.version == version), None)
        if row is None:
            if version is None:
                raise Conflict(f"template {template_key!r} has no published version",
                               code="template_not_published")
            raise NotFound(f"template {template_key!r} has no version {version}",
                           code="template_version_not_found")
        return prepared(rt, principal.org_id, row.id, session=s)


def prepared(rt: Runtime, org_id: str, version_id: str, *,
             session: Session | None = None) -> Prepared:
    """A published version of the organisation, read once per process."""
    hit = _prepared.get(version_id)
    if hit is not None and hit.org_id == org_id:
        return hit
    if session is not None:
        found = _read(rt, session, org_id, version_id)
    else:
        with rt.db.uow() as uow:
            found = _read(rt, uow.session, org_id, version_id)
    _remember(_prepared, version_id, found)
    return found


def check(p: Prepared, data: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                         list[variables.Problem]]:
    """One row's data against the version's variables (defaults applied): the render
    context and every problem, without rendering."""
    return variables.validate(p.specs, data)


def _json(value: Any) -> Any:
    return str(value)


def render_row(rt: Runtime, p: Prepared, context: Mapping[str, Any]) -> tuple[bytes,
                                                                              tuple[Any, ...]]:
    """The document and field boxes for one row's (validated) context. Call it outside
    any transaction: rendering takes a while."""
    if p.plan is None:
        return rt.blobs.get(p.pdf_blob or ""), ()
    digest = hashlib.sha256(json.dumps([p.version_id, context], sort_keys=True,
                                       default=_json).encode()).hexdigest()
    hit = _rendered.get(digest)
    if hit is not None:
        return hit
    out = run(p.plan, context, footer=p.label)
    result = (out.pdf, tuple(out.fields))
    rt.blobs.put(out.pdf)
    _remember(_rendered, digest, result)
    return result


def create_in(rt: Runtime, principal: Principal, session: Session, p: Prepared, *,
              envelope_id: str, context: Mapping[str, Any], document: bytes,
              rendered_fields: tuple[Any, ...], recipients: Mapping[str, Mapping[str, Any]],
              subject: str | None, message: str, expires_in_days: int,
              actor: envelopes.Actor | None = None, send: bool = True) -> str:
    """Create and send the row's envelope in the caller's transaction (the caller
    commits, together with whatever marks the row done); ``send=False`` leaves it a
    draft for its sender to review and send."""
    given = {k: v for k, v in recipients.items()  # blank: the role's default, if any
             if k not in p.optional_roles or v.get("name") or v.get("email")}
    ready = _Ready(tpl_key=p.key, tpl_name=p.name, version_id=p.version_id,
                   version=p.version, source_sha256=p.source_sha256, pins=p.pins,
                   roles=list(p.roles), context=dict(context), plan=p.plan,
                   pdf=document if p.plan is None else None,
                   pdf_fields=list(p.pdf_fields), rules=list(p.rules), recipients=given)
    rules, _ = routing.parse_rules(list(p.rules))
    env_id = envelopes.create(
        rt, principal, subject=subject or p.name, message=message,
        documents=[envelopes.DocumentInput(f"{p.name}.pdf", document)],
        recipients=[replace(_recipient(r, _given(r, given)), key=r.key) for r in p.roles],
        fields=_fields(ready, rendered_fields), expires_in_days=expires_in_days,
        actor=actor, envelope_id=envelope_id, session=session,
        template=TemplateRef(version_id=p.version_id, label=p.label, sha256=p.source_sha256,
                             clauses=p.pins),
        rules=list(p.rules),
        data=routing.pick(to_json(dict(context)), routing.variables_read(rules)))
    keep_contract_values(session, envelope_id=env_id, org_id=principal.org_id,
                         version_id=p.version_id, section=p.contract, context=context,
                         now=rt.now())
    if send:
        envelopes.send_in(rt, principal, session, env_id, actor=actor)
    return env_id
