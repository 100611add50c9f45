"""Importing a signed PDF made elsewhere, with its metadata: the bytes are checked against
the PDF limits (``documents.limits``) and kept exactly as uploaded, so whatever signatures
they carry stay valid; the metadata is read strictly (every problem is a 422)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from accord.access import Permission, Principal
from accord.accounts.services import users_in_org
from accord.contracts.domain import MAPPABLE_FIELDS, ContractError, ContractType, filed_from
from accord.contracts.models import ContractDocument
from accord.contracts.services import (
    ContractDetail,
    actor_label,
    commit_or_conflict,
    detail,
    invalid,
    refresh_search_text,
)
from accord.contracts.services.filing import file_new
from accord.contracts.services.indexing import pdf_text
from accord.documents.limits import PdfLimits
from accord.documents.pdf import DocumentError, inspect_pdf
from accord.errors import InvalidInput, PayloadTooLarge
from accord.runtime import Runtime
from accord.validation import deep_text_problem

log = logging.getLogger("accord.contracts.imports")

META_KEYS = frozenset({*MAPPABLE_FIELDS, "title", "parties", "owner_id"})
MAX_PARTIES = 20


def _parties(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_PARTIES:
        raise InvalidInput(f"parties is a list of at most {MAX_PARTIES} "
                           '{"name", "email", "role"}', code="invalid_contract_field")
    out = []
    for i, p in enumerate(raw):
        if not isinstance(p, Mapping) or not str(p.get("name") or "").strip():
            raise InvalidInput(f"parties[{i}] needs a name", code="invalid_contract_field")
        extra = set(p) - {"name", "email", "role"}
        if extra:
            raise InvalidInput(f"parties[{i}] has unknown keys", code="invalid_contract_field")
        out.append({k: str(p.get(k) or "").strip()[:320] or None
                    for k in ("name", "email", "role")})
    return out


def check_pdf(rt: Runtime, data: bytes) -> None:
    s = rt.settings
    try:
        inspect_pdf(data, max_bytes=s.max_document_bytes, max_pages=s.max_document_pages,
                    limits=PdfLimits.from_settings(s))
    except DocumentError as exc:
        err = PayloadTooLarge if exc.code == "document_too_large" else InvalidInput
        raise err(f"file: {exc.message}", code=exc.code) from exc


def import_contract(rt: Runtime, principal: Principal, *, data: bytes, filename: str,
                    meta: Mapping[str, Any]) -> ContractDetail:
    """File a contract from a signed PDF made elsewhere and its ``meta`` (the contract
    fields, ``title``, ``parties``, ``owner_id``; default owner: the importer)."""
    principal.require(Permission.CONTRACT_MANAGE)
    unknown = sorted(set(meta) - META_KEYS)
    if unknown:
        raise InvalidInput(f"unknown metadata: {', '.join(map(str, unknown))[:300]}; known: "
                           f"{', '.join(sorted(META_KEYS))}", code="invalid_contract_field")
    bad = deep_text_problem(dict(meta))
    if bad is not None:
        raise InvalidInput(f"meta.{bad[0]}: {bad[1]}", code="invalid_text")
    for key in ("customer_name", "customer_account_id", "currency", "type"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise InvalidInput(f"{key} must be text", code="invalid_contract_field")
        if isinstance(meta.get(key), str) and any(ch in meta[key] for ch in "\r\n"):
            raise InvalidInput(f"{key} is one line", code="invalid_contract_field")
    tags = meta.get("tags")
    if tags is not None and not (isinstance(tags, str) or (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags))):
        raise InvalidInput("tags is a list of text", code="invalid_contract_field")
    try:
        filed = filed_from(meta, {k: k for k in MAPPABLE_FIELDS if k in meta},
                           ContractType.SUPPORT_SERVICES)
    except ContractError as exc:
        raise invalid(exc) from exc
    if "sla" in meta and meta["sla"] is not None and filed.sla is None:
        raise InvalidInput("sla must be an object", code="invalid_contract_field")
    given = {k for k in MAPPABLE_FIELDS if meta.get(k) not in (None, "")}
    parties = _parties(meta.get("parties"))
    name = (filename or "contract.pdf").replace("\\", "/").rsplit("/", 1)[-1][:200]
    title = str(meta.get("title") or "").strip() or name.removesuffix(".pdf")
    if len(title) > 300 or any(ord(ch) < 32 for ch in title):
        raise InvalidInput("title is one line of at most 300 characters",
                           code="invalid_contract_field")
    check_pdf(rt, data)
    blob = rt.blobs.put(data)  # content-addressed: the key is the bytes' sha256
    text = pdf_text(data)
    with rt.db.uow() as uow:
        s = uow.session
        owner = str(meta.get("owner_id") or principal.user_id)
        if owner not in users_in_org(s, principal.org_id, {owner}):
            raise InvalidInput("owner_id: no such user in this organisation",
                               code="unknown_user")
        now = rt.now()
        doc = ContractDocument(org_id=principal.org_id, title=name or "contract.pdf",
                               envelope_id=None, blob=blob, sha256=blob, size=len(data),
                               filed_at=now)
        contract = file_new(s, env_id=None, org_id=principal.org_id, title=title,
                            owner_id=owner, parties=parties, doc=doc, filed=filed,
                            given=given, problems=[], now=now,
                            actor=actor_label(principal), source="import")
        refresh_search_text(s, contract, text)
        commit_or_conflict(s)
        return detail(s, contract)
