"""The renewals pipeline by API: ``GET /api/v1/contracts/renewals`` (``contract:read``).

Thin: parse, call ``services.pipeline.pipeline``, return its view."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from accord.access import Permission, Principal
from accord.contracts.services import pipeline as pipe
from accord.web.deps import Rt, requires
from accord.web.openapi import error_responses

router = APIRouter(prefix="/api/v1/contracts", tags=["contracts"])
CanReadContracts = Annotated[Principal, Depends(requires(Permission.CONTRACT_READ))]
ERRORS = error_responses(401, 403, 422, 429)
Band = Literal["overdue", "30", "60", "90", "120"]


class RenewalOut(BaseModel):
    id: str
    title: str
    type: str
    status: str
    customer_name: str | None
    customer_account_id: str | None
    owner_id: str | None
    end_date: date
    days_left: int = Field(description="Days from today (the organisation's date) to the "
                           "end date; negative when overdue")
    band: Band = Field(description="overdue, or due within 30 / 31-60 / 61-90 / 91-120 days")
    auto_renew: bool
    opt_out_date: date | None = Field(description="Last day to give notice against an "
                                      "auto-renewal")
    flagged: bool = Field(description="Expired without renewal: needs someone's attention")
    value: str | None
    currency: str | None
    addendum_envelope_id: str | None = Field(description="The latest renewal addendum "
                                             "drafted for the contract")


class PipelineOut(BaseModel):
    today: date = Field(description="Today in the organisation's time zone")
    time_zone: str
    counts: dict[str, int] = Field(description="Contracts per band (the whole organisation, "
                                   "or the owner's with `owner_id`)")
    items: list[RenewalOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null "
                                    "on the last page")


@router.get("/renewals", response_model=PipelineOut, responses=ERRORS,
            summary="The renewals pipeline",
            description="Contracts of the organisation in force that end within 120 days, "
            "and those past their end without renewal (`overdue`: still in force, or "
            "expired and flagged), soonest end first. `band` keeps one band (`30`: 0-30 "
            "days, `60`: 31-60, `90`: 61-90, `120`: 91-120); `owner_id` one owner's. "
            "Cursor-paginated. 422 `invalid_cursor` for a cursor this API did not give.")
def pipeline(rt: Rt, principal: CanReadContracts,
             band: Annotated[Band | None, Query()] = None,
             owner_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
             limit: Annotated[int, Query(ge=1, le=200)] = 50,
             cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
             ) -> PipelineOut:
    got = pipe.pipeline(rt, principal, band=band, owner_id=owner_id, limit=limit,
                            cursor=cursor)
    return PipelineOut.model_validate(got, from_attributes=True)
