"""REST routes for bulk send under /api/v1/bulk-batches. Thin: parse, call one service."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from accord.bulk import services
from accord.envelopes.api import ERRORS
from accord.errors import InvalidInput
from accord.runtime import Runtime
from accord.validation import MultiLine, SingleLine
from accord.web.deps import CanUseTemplates, Rt
from accord.web.limits import base64_size

router = APIRouter(prefix="/api/v1", tags=["bulk send"])


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_key: SingleLine = Field(min_length=1, max_length=80)
    version: int | None = Field(None, ge=1, description="Default: the latest published.")
    csv_base64: str = Field(min_length=1, description="The CSV file (UTF-8, header "
                            "row), base64-encoded. Columns are template variables "
                            "(`customer.legal_name`) or recipients "
                            "(`recipient.<role>.name|email|phone`). At most 20 MiB and "
                            "50,000 rows (`ACCORD_BULK_MAX_CSV_BYTES`, "
                            "`ACCORD_BULK_MAX_ROWS`): past either, 413 `csv_too_large`.")
    file_name: SingleLine = Field("batch.csv", min_length=1, max_length=300)
    mapping: dict[SingleLine, SingleLine] = Field(
        default_factory=dict, description="Rename columns: "
                                    "`{\"CSV header\": \"target\"}`; an empty target "
                                    "ignores the column.")
    allow_duplicates: bool = Field(False, description="Send rows that repeat an earlier "
                                   "row (same recipients and values). By default such a "
                                   "row is invalid, with the problem `duplicate_row`.")


class SubmitIn(BulkIn):
    subject: SingleLine | None = Field(None, min_length=1, max_length=300,
                                       description="One line; default: the template's name.")
    message: MultiLine = Field("", max_length=5000)
    expires_in_days: int = Field(120, ge=1, le=365)


def _csv(body: BulkIn, rt: Runtime) -> bytes:
    limit = rt.settings.bulk_max_csv_bytes
    if len(body.csv_base64) > base64_size(limit) + 4:  # too large without decoding it
        raise services.too_large(limit)
    try:
        return base64.b64decode(body.csv_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("csv_base64 is not valid base64", code="invalid_base64") from exc


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200, description="Identifies the batch: the same key "
    "again returns the batch already stored (never a second one). Default: the SHA-256 "
    "of organisation, template version, mapping and file.")]


@router.post("/bulk-batches/dry-run", response_model=services.DryRun, responses=ERRORS,
             summary="Check a bulk send CSV without sending",
             description="Every row is checked as sending would check it (variables, "
                         "recipients); nothing is stored or sent. Problems name the row "
                         "(1 = first line after the header), the column and a stable "
                         "code; a row that repeats an earlier one is `duplicate_row` "
                         "(unless `allow_duplicates`). Problems with the file as a whole "
                         "(not UTF-8, no header, unknown or duplicate columns) answer 422; "
                         "a file over 20 MiB or 50,000 rows answers 413 `csv_too_large`.")
def dry_run(body: BulkIn, rt: Rt, principal: CanUseTemplates) -> services.DryRun:
    return services.dry_run(rt, principal, template_key=body.template_key,
                            version=body.version, data=_csv(body, rt), mapping=body.mapping,
                            allow_duplicates=body.allow_duplicates)


@router.post("/bulk-batches", status_code=201, response_model=services.BatchView,
             responses={200: {"model": services.BatchView,
                              "description": "The same batch was submitted before: the "
                                             "stored one, unchanged."}, **ERRORS},
             summary="Send one envelope per CSV row",
             description="Checks every row, stores the batch and queues one envelope per "
                         "valid row (rendered and sent by the workers); invalid rows are "
                         "kept with their problems for the results. Idempotent: see "
                         "`Idempotency-Key`. 422 `no_valid_rows` when no row can be sent.")
def submit(body: SubmitIn, rt: Rt, principal: CanUseTemplates,
           idempotency_key: IdempotencyKey = None) -> Any:
    out = services.submit(rt, principal, template_key=body.template_key,
                          version=body.version, data=_csv(body, rt),
                          file_name=body.file_name, mapping=body.mapping,
                          subject=body.subject, message=body.message,
                          expires_in_days=body.expires_in_days,
                          idempotency_key=idempotency_key,
                          allow_duplicates=body.allow_duplicates)
    if not out.created:  # the stored batch, unchanged
        return JSONResponse(jsonable_encoder(out.batch), status_code=200)
    return out.batch


@router.get("/bulk-batches", response_model=list[services.BatchView], responses=ERRORS,
            summary="List bulk batches",
            description="The caller's batches, newest first (admins: every batch of the "
                        "organisation).")
def list_batches(rt: Rt, principal: CanUseTemplates,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                 ) -> list[services.BatchView]:
    return services.list_batches(rt, principal, limit=limit, offset=offset)


@router.get("/bulk-batches/{batch_id}", response_model=services.BatchView, responses=ERRORS,
            summary="A bulk batch and its progress",
            description="Rows pending, done (envelope sent) and failed; `status` becomes "
                        "`finished` when no row is pending.")
def get_batch(batch_id: str, rt: Rt, principal: CanUseTemplates) -> services.BatchView:
    return services.get(rt, principal, batch_id)


RESULTS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "One line per CSV row: its cells, "
          "then row, status, envelope_id, error_code, error_message. Cells starting with "
          "= + - @ are prefixed with ' so that spreadsheets show them as text."}, **ERRORS}


@router.get("/bulk-batches/{batch_id}/results.csv", response_class=Response,
            responses=RESULTS, summary="Per-row results of a bulk batch (CSV)")
def results(batch_id: str, rt: Rt, principal: CanUseTemplates) -> Response:
    name, text = services.results_csv(rt, principal, batch_id)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
