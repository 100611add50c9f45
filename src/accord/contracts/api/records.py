"""REST routes on one contract record under /api/v1/contracts: read, change, terminate,
link an amendment or renewal addendum, its documents and audit trail, and the import of a
signed PDF made elsewhere (multipart). Thin: parse, call one service, return its view."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.access import Permission, Principal
from accord.contracts.domain import MAX_TERM_MONTHS, MAX_WINDOW_DAYS, ContractType
from accord.contracts.services import ContractDetail, DocumentView, filing, imports, records
from accord.errors import InvalidInput, PayloadTooLarge
from accord.validation import CleanJson, EmailOrBlank, MultiLine, SingleLine
from accord.web.deps import Rt, requires
from accord.web.openapi import error_responses

router = APIRouter(prefix="/api/v1/contracts", tags=["contracts"])
ERRORS = error_responses(401, 403, 404, 409, 422, 429)
CanReadContracts = Annotated[Principal, Depends(requires(Permission.CONTRACT_READ))]
CanManageContracts = Annotated[Principal, Depends(requires(Permission.CONTRACT_MANAGE))]
CanReadAudit = Annotated[Principal, Depends(requires(Permission.AUDIT_READ))]
ContractId = Annotated[str, Path(min_length=1, max_length=36, description="A contract id.")]
MAX_META_BYTES = 64 * 1024
TYPES = tuple(t.value for t in ContractType)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartyIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=200)
    email: EmailOrBlank = Field("", max_length=320)
    role: SingleLine = Field("", max_length=60)


class ContractMetaIn(Strict):
    """The metadata of an imported contract (every field optional)."""

    title: SingleLine | None = Field(None, min_length=1, max_length=300,
                                     description="Default: the file's name.")
    type: Literal[TYPES] | None = Field(None, description="Default: support_services.")  # type: ignore[valid-type]
    customer_account_id: SingleLine | None = Field(None, max_length=200)
    customer_name: SingleLine | None = Field(None, max_length=200)
    parties: list[PartyIn] = Field(default_factory=list, max_length=20)
    effective_date: date | None = None
    end_date: date | None = Field(None, description="Default: from effective_date and "
                                  "term_months.")
    term_months: int | None = Field(None, ge=1, le=MAX_TERM_MONTHS)
    auto_renew: bool | None = None
    notice_days: int | None = Field(None, ge=0, le=MAX_WINDOW_DAYS)
    value: Decimal | None = Field(None, ge=0, max_digits=16, decimal_places=2)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    tags: list[SingleLine] = Field(default_factory=list, max_length=50)
    sla: Annotated[dict[str, Any], CleanJson] | None = Field(
        None, description="Structured SLA terms: per severity first-response and "
        "resolution targets, calendar, credits.")
    owner_id: SingleLine | None = Field(None, max_length=36, description="Default: you.")


class ContractPatch(Strict):
    title: SingleLine | None = Field(None, min_length=1, max_length=300)
    owner_id: SingleLine | None = Field(None, max_length=36, description="A user of the "
                                        "organisation; null: no owner.")
    watchers: list[SingleLine] | None = Field(None, max_length=20, description="User ids "
                                              "told of renewals with the owner.")
    tags: list[SingleLine] | None = Field(None, max_length=50)
    renewal_windows: list[int] | None = Field(None, max_length=12, description="Days before "
                                              "the end date; null: the organisation's.")
    customer_account_id: SingleLine | None = Field(None, max_length=200)
    customer_name: SingleLine | None = Field(None, max_length=200)
    expected_version: int | None = Field(None, ge=1, description="The `version` you read: "
                                         "409 `version_mismatch` if it changed since.")


class TerminateIn(Strict):
    reason: MultiLine = Field(min_length=1, max_length=1000)
    expected_version: int | None = Field(None, ge=1)


class LinkIn(Strict):
    envelope_id: SingleLine = Field(min_length=1, max_length=36)
    kind: Literal["amendment", "renewal_addendum"]


def _meta(raw: str) -> dict[str, Any]:
    if len(raw.encode()) > MAX_META_BYTES:
        raise InvalidInput(f"meta is at most {MAX_META_BYTES} bytes of JSON",
                           code="invalid_meta")
    try:
        parsed = ContractMetaIn.model_validate(json.loads(raw or "{}"))
    except (ValueError, RecursionError) as exc:
        details = None
        if isinstance(exc, ValidationError):
            details = [{"loc": ["meta", *e.get("loc", ())], "msg": e.get("msg"),
                        "type": e.get("type")} for e in exc.errors()]
        raise InvalidInput("meta must be a JSON object of contract fields",
                           code="invalid_meta", details=details) from None
    meta: dict[str, Any] = parsed.model_dump(mode="json", exclude_none=True)
    return meta


@router.post("/import", status_code=201, response_model=ContractDetail, responses=ERRORS
             | error_responses(413), summary="Import a signed PDF made elsewhere",
             description="Multipart: `file` (the PDF, kept byte for byte: its signatures "
             "stay valid) and `meta` (a JSON object: title, type, customer_account_id, "
             "customer_name, parties, effective_date, end_date, term_months, auto_renew, "
             "notice_days, value, currency, tags, sla, owner_id). The PDF is held to the "
             "document limits (`document_too_large` 413, `document_not_pdf`, "
             "`document_too_complex`, ... 422); bad metadata: 422 `invalid_meta`, "
             "`invalid_contract_field`, `unknown_user`.")
def import_contract(rt: Rt, principal: CanManageContracts,
                    file: Annotated[UploadFile, File(description="The signed PDF.")],
                    meta: Annotated[str, Form(max_length=MAX_META_BYTES)] = "{}",
                    ) -> ContractDetail:
    limit = rt.settings.max_document_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"file: the PDF is larger than {limit} bytes",
                              code="document_too_large")
    return imports.import_contract(rt, principal, data=data,
                                   filename=file.filename or "contract.pdf",
                                   meta=_meta(meta))


@router.get("/{contract_id}", response_model=ContractDetail, responses=ERRORS,
            summary="A contract record with its documents and envelopes",
            description="`documents` is the version history (original, amendments, renewal "
            "addenda, imports) in order; `envelopes` every envelope that made, changed or "
            "is linked to change it.")
def get_contract(contract_id: ContractId, rt: Rt,
                 principal: CanReadContracts) -> ContractDetail:
    return records.get_contract(rt, principal, contract_id)


@router.patch("/{contract_id}", response_model=ContractDetail, responses=ERRORS,
              summary="Change a contract's owner, watchers, tags, windows, title or customer",
              description="Only the fields given change. 409 `contract_terminated`, "
              "`version_mismatch`, `concurrent_update`; 422 `unknown_user`, "
              "`invalid_windows`, `invalid_contract_field`.")
def update_contract(contract_id: ContractId, body: ContractPatch, rt: Rt,
                    principal: CanManageContracts) -> ContractDetail:
    given = body.model_dump(exclude_unset=True)
    expected = given.pop("expected_version", None)
    return records.update_contract(rt, principal, contract_id, given,
                                   expected_version=expected)


@router.post("/{contract_id}/terminate", response_model=ContractDetail, responses=ERRORS,
             summary="Terminate a contract early",
             description="409 `already_terminated`, `version_mismatch`.")
def terminate_contract(contract_id: ContractId, body: TerminateIn, rt: Rt,
                       principal: CanManageContracts) -> ContractDetail:
    return records.terminate_contract(rt, principal, contract_id, reason=body.reason,
                                      expected_version=body.expected_version)


@router.post("/{contract_id}/links", response_model=ContractDetail, status_code=201,
             responses=ERRORS, summary="Link an envelope that amends or renews the contract",
             description="When the envelope completes it is added to the contract's history "
             "and applies its mapped fields; a `renewal_addendum` renews the contract (new "
             "end date). 404 `envelope_not_found`; 409 `already_linked`, "
             "`envelope_finished`, `contract_terminated`.")
def link_envelope(contract_id: ContractId, body: LinkIn, rt: Rt,
                  principal: CanManageContracts) -> ContractDetail:
    filing.link_envelope(rt, principal, contract_id, envelope_id=body.envelope_id,
                         kind=body.kind)
    return records.get_contract(rt, principal, contract_id)


@router.get("/{contract_id}/documents", response_model=list[DocumentView], responses=ERRORS,
            summary="The contract's documents (its version history)")
def list_documents(contract_id: ContractId, rt: Rt,
                   principal: CanReadContracts) -> list[DocumentView]:
    return records.list_documents(rt, principal, contract_id)


PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The stored PDF, as filed."},
    **ERRORS}


@router.get("/{contract_id}/documents/{contract_document_id}", response_class=Response,
            responses=PDF_RESPONSE, summary="Download one of the contract's documents",
            description="The bytes as filed: the sealed PDF of an envelope, or an imported "
            "PDF exactly as uploaded. 409 `document_unavailable` if it has no file.")
def download_document(contract_id: ContractId,
                      contract_document_id: Annotated[str, Path(min_length=1, max_length=36)],
                      rt: Rt, principal: CanReadContracts) -> Response:
    got = records.download(rt, principal, contract_id, contract_document_id)
    return Response(got.data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{got.filename}"',
        "X-Content-SHA256": got.sha256 or ""})


@router.get("/{contract_id}/audit", responses=ERRORS,
            summary="The contract's hash-linked audit trail (contract:* events)")
def audit_trail(contract_id: ContractId, rt: Rt,
                principal: CanReadAudit) -> list[dict[str, Any]]:
    return records.audit_trail(rt, principal, contract_id)
