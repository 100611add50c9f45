"""Retention by API: ``PATCH /api/v1/contracts/{id}/retention`` (override one contract's
policy: ``contract:retention``, compliance and admin) and ``GET
/api/v1/contracts/disposition`` (the disposition review: ``contract:disposition``,
compliance, admin and legal). A review only: nothing is destroyed.

Thin: parse, call ``services.retention``, return its view."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from accord.access import Permission, Principal
from accord.contracts.retention import POLICIES
from accord.contracts.services import ContractDetail
from accord.contracts.services import retention as service
from accord.validation import SingleLine
from accord.web.deps import Rt, requires
from accord.web.openapi import error_responses

router = APIRouter(prefix="/api/v1/contracts", tags=["contracts"])
CanSetRetention = Annotated[Principal, Depends(requires(Permission.CONTRACT_RETENTION))]
CanReview = Annotated[Principal, Depends(requires(Permission.CONTRACT_DISPOSITION))]
ContractId = Annotated[str, Path(min_length=1, max_length=36, description="A contract id.")]


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Literal[POLICIES] = Field(description="standard (7 years after termination or "  # type: ignore[valid-type]
                                      "expiry), hipaa (6 years from creation or the last "
                                      "effective date, whichever is later), transactional "
                                      "(90 days from creation) or audit_log (at least 7 "
                                      "years)")
    reason: SingleLine = Field(min_length=1, max_length=1000,
                               description="Why; kept on the contract's audit trail.")


class DueOut(BaseModel):
    id: str
    title: str
    type: str
    status: str
    customer_name: str | None
    policy: str
    created_at: datetime
    effective_date: date | None
    end_date: date | None
    terminated_at: datetime | None
    retain_until: date = Field(description="The last day the record had to be kept")
    overdue_days: int = Field(description="Days since retain_until")
    reason: str = Field(description="Why the record is due, in words")


class DispositionOut(BaseModel):
    today: date = Field(description="Today in the organisation's time zone")
    total: int = Field(description="Contracts due in all")
    limit: int
    offset: int
    items: list[DueOut]


@router.get("/disposition", response_model=DispositionOut,
            responses=error_responses(401, 403, 422, 429),
            summary="The disposition review: contracts whose retention has run out",
            description="The organisation's contracts whose `retain_until` has passed, "
            "longest due first, with their policy, dates and why they are due. A review "
            "only: nothing is destroyed (purge and legal hold are not built yet).")
def disposition(rt: Rt, principal: CanReview,
                limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> DispositionOut:
    got = service.disposition(rt, principal, limit=limit, offset=offset)
    return DispositionOut.model_validate(got, from_attributes=True)


@router.patch("/{contract_id}/retention", response_model=ContractDetail,
              responses=error_responses(401, 403, 404, 409, 422, 429),
              summary="Override one contract's retention policy",
              description="Compliance or admin (`contract:retention`). Recomputes "
              "`retain_until`; audited on the contract's trail (`contract:retention_set`, "
              "with the reason). 409 `retention_unchanged` when the policy is the same.")
def set_retention(contract_id: ContractId, body: RetentionIn, rt: Rt,
                  principal: CanSetRetention) -> ContractDetail:
    return service.set_policy(rt, principal, contract_id, policy=body.policy,
                              reason=body.reason)
