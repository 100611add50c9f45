"""The documents' text for full-text search. A filed envelope's sealed PDF is read by a
background task (``contract:index``, queued in the filing transaction: the subscriber of
``envelope.completed`` has no blob store and must stay quick); an import reads its PDF at
once. Both end in ``refresh_search_text``. Safe to run twice."""

from __future__ import annotations

import io
import logging
from datetime import datetime
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from sqlalchemy.orm import Session

from accord.contracts.models import Contract
from accord.contracts.services import documents_of, refresh_search_text
from accord.delivery.services import enqueue
from accord.runtime import Runtime
from accord.storage.blobs import BlobError

log = logging.getLogger("accord.contracts.indexing")

INDEX = "contract:index"
MAX_TEXT_PAGES = 50
MAX_TEXT_CHARS = 100_000


def pdf_text(data: bytes) -> str:
    """The PDF's text (best effort: a PDF without text, or one pypdf cannot read, has
    none), whitespace folded, at most ``MAX_TEXT_CHARS``."""
    try:
        reader = PdfReader(io.BytesIO(data))
        parts: list[str] = []
        for page in reader.pages[:MAX_TEXT_PAGES]:
            parts.append(page.extract_text() or "")
            if sum(map(len, parts)) > MAX_TEXT_CHARS:
                break
        return " ".join(" ".join(parts).split())[:MAX_TEXT_CHARS]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as exc:
        log.info("no text read from a contract document: %s", exc)
        return ""


def queue_index(session: Session, contract: Contract, now: datetime) -> None:
    enqueue(session, kind=INDEX, payload={"contract_id": contract.id}, now=now,
            org_id=contract.org_id)


def index_contract(rt: Runtime, payload: dict[str, Any]) -> None:
    """The ``contract:index`` task: read every document's text into the search text
    (and note the size of documents filed without one)."""
    contract_id = str(payload.get("contract_id"))
    with rt.db.uow() as uow:
        contract = uow.session.get(Contract, contract_id)
        if contract is None:
            return
        blobs = [d.blob for d in documents_of(uow.session, contract_id) if d.blob]
    texts, sizes = [], {}
    for key in blobs:
        try:
            data = rt.blobs.get(key)
        except BlobError as exc:  # a missing blob is not fixed by retrying
            log.warning("contract %s: document %s not readable: %s", contract_id, key, exc)
            continue
        sizes[key] = len(data)
        texts.append(pdf_text(data))
    with rt.db.uow() as uow:
        contract = uow.session.get(Contract, contract_id)
        if contract is None:
            return
        for doc in documents_of(uow.session, contract_id):
            if doc.size is None and doc.blob in sizes:
                doc.size = sizes[doc.blob]
        refresh_search_text(uow.session, contract, " ".join(texts)[:MAX_TEXT_CHARS])
        uow.commit()
