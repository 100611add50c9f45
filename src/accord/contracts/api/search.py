"""REST routes of repository search: the contracts list (filters, full text, sort, cursor
pages), its CSV export and saved views. Thin: parse, call one service."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from accord.access import Permission, Principal
from accord.contracts.domain import ContractStatus, ContractType
from accord.contracts.services import search as services
from accord.contracts.services import views
from accord.contracts.services.search import Filters, Order, Sort, filters_from
from accord.web.deps import Rt, requires
from accord.web.openapi import error_responses

router = APIRouter(prefix="/api/v1", tags=["contracts"])
CanReadContracts = Annotated[Principal, Depends(requires(Permission.CONTRACT_READ))]
ERRORS = error_responses(401, 403, 404, 422)
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def search_filters(
        rt: Rt, principal: CanReadContracts,
        q: Annotated[str, Query(max_length=500, description=Filters.model_fields["q"]
                                .description or "")] = "",
        type: Annotated[list[ContractType] | None, Query(
            description="Contract types (any of them).")] = None,
        status: Annotated[list[ContractStatus] | None, Query(
            description="Statuses (any of them).")] = None,
        owner: Annotated[list[str] | None, Query(description="Owner user ids (any of "
                                                 "them); `me` is the caller.")] = None,
        customer: Annotated[str | None, Query(max_length=200,
                                              description="Customer account id.")] = None,
        tag: Annotated[list[str] | None, Query(description="Tags (all of them).")] = None,
        end_from: Annotated[str | None, Query(pattern=ISO_DATE, description="End date on "
                                              "or after (YYYY-MM-DD).")] = None,
        end_to: Annotated[str | None, Query(pattern=ISO_DATE, description="End date on "
                                            "or before (YYYY-MM-DD).")] = None,
        value_min: Annotated[Decimal | None, Query()] = None,
        value_max: Annotated[Decimal | None, Query()] = None,
        currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
        sort: Annotated[Sort, Query()] = "created_at",
        order: Annotated[Order, Query()] = "desc",
        view: Annotated[str | None, Query(max_length=36, description="A saved view's id: "
                                          "its filters, with the parameters given here "
                                          "put over them.")] = None) -> Filters:
    given: dict[str, Any] = {
        "q": q, "type": type, "status": status, "owner": owner, "customer": customer,
        "tag": tag, "end_from": end_from, "end_to": end_to, "value_min": value_min,
        "value_max": value_max, "currency": currency}
    given = {k: v for k, v in given.items() if v not in (None, "", [])}
    base: dict[str, Any] = {}
    if view:
        base = views.get_view(rt, principal, view).filters.model_dump()
        if sort != "created_at" or order != "desc":
            given |= {"sort": sort, "order": order}
    else:
        given |= {"sort": sort, "order": order}
    return filters_from(base | given)


SearchFilters = Annotated[Filters, Depends(search_filters)]


@router.get("/contracts", response_model=services.ContractPage, responses=ERRORS,
            summary="Search the organisation's contracts",
            description="Filters on any metadata (all given ones must hold), full-text "
            "`q` over the contract's text, title, customer and tags, a sort (ties broken "
            "by id) and cursor pages: pass `next_cursor` back as `cursor` with the same "
            "filters. A cursor altered or from another search answers 422 "
            "`invalid_cursor` / `cursor_mismatch`; a search over 500 characters 422 "
            "`query_too_long`, over 16 terms or 32 words 422 `query_too_complex`.")
def list_contracts(rt: Rt, principal: CanReadContracts, filters: SearchFilters,
                   limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE)] = 50,
                   cursor: Annotated[str | None, Query(
                       max_length=services.MAX_CURSOR_CHARS)] = None
                   ) -> services.ContractPage:
    return services.search(rt, principal, filters, limit=limit, cursor=cursor)


@router.get("/contracts/export.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "One line per matching contract, "
          "in the search's order; cells a spreadsheet would run as formulas start with "
          "`'`."}, **ERRORS},
    summary="The search's contracts as CSV (at most 10,000: 422 `export_too_large`)")
def export_contracts(rt: Rt, principal: CanReadContracts, filters: SearchFilters) -> Response:
    text = services.export_csv(rt, principal, filters)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="contracts.csv"'})


class ViewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    filters: Filters = Field(default_factory=Filters)
    shared: bool = Field(False, description="Every user of the organisation sees it.")


class ViewPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    filters: Filters | None = None
    shared: bool | None = None


VIEW_ERRORS = error_responses(401, 403, 404, 409, 422)


@router.get("/contract-views", response_model=list[views.ViewOut], responses=ERRORS,
            summary="Saved contract views: the caller's and the organisation's shared ones")
def list_views(rt: Rt, principal: CanReadContracts) -> list[views.ViewOut]:
    return views.list_views(rt, principal)


@router.post("/contract-views", status_code=201, response_model=views.ViewOut,
             responses=VIEW_ERRORS, summary="Save a contract view (409 `view_name_taken`)")
def create_view(rt: Rt, principal: CanReadContracts, body: ViewIn) -> views.ViewOut:
    return views.create_view(rt, principal, name=body.name, filters=body.filters,
                             shared=body.shared)


@router.get("/contract-views/{view_id}", response_model=views.ViewOut,
            responses=VIEW_ERRORS, summary="A saved contract view")
def get_view(view_id: str, rt: Rt, principal: CanReadContracts) -> views.ViewOut:
    return views.get_view(rt, principal, view_id)


@router.patch("/contract-views/{view_id}", response_model=views.ViewOut,
              responses=VIEW_ERRORS,
              summary="Change a saved view (its owner only: 403 `not_view_owner`)")
def update_view(view_id: str, rt: Rt, principal: CanReadContracts,
                body: ViewPatch) -> views.ViewOut:
    return views.update_view(rt, principal, view_id, name=body.name, filters=body.filters,
                             shared=body.shared)


@router.delete("/contract-views/{view_id}", status_code=204, response_class=Response,
               responses=VIEW_ERRORS,
               summary="Delete a saved view (its owner only: 403 `not_view_owner`)")
def delete_view(view_id: str, rt: Rt, principal: CanReadContracts) -> Response:
    views.delete_view(rt, principal, view_id)
    return Response(status_code=204)
