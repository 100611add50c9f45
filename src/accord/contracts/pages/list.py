"""The console's contracts list: filters, full-text search, sort, pages (cursor), saved
views and the CSV export. Thin: read the query string or form, call one service, render."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.access import Permission
from accord.contracts.domain import ContractStatus, ContractType
from accord.contracts.services import search, views
from accord.contracts.services.search import Filters, filters_from
from accord.errors import AccordError, InvalidInput
from accord.runtime import Runtime
from accord.web.console import Console, ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = "contracts"
MULTI = ("type", "status", "owner", "tag")
SINGLE = ("q", "customer", "end_from", "end_to", "value_min", "value_max", "currency",
          "sort", "order")


def _filters(rt: Runtime, console: Console, request: Request) -> tuple[Filters, str | None]:
    """The filters the query string asks for (over a saved view's, when ``view`` is set)."""
    params = request.query_params
    data: dict[str, Any] = {}
    view_id = params.get("view") or None
    if view_id:
        data = views.get_view(rt, console.principal, view_id[:36]).filters.model_dump()
    for name in MULTI:
        values = [v.strip() for v in params.getlist(name) if v.strip()]
        if values:
            data[name] = values
    for name in SINGLE:
        value = (params.get(name) or "").strip()
        if value:
            data[name] = value
    return filters_from(data), view_id


def _query_string(filters: Filters, **extra: str) -> str:
    pairs: list[tuple[str, str]] = []
    dumped = filters.model_dump(mode="json")
    for name in MULTI:
        pairs += [(name, str(v)) for v in dumped[name]]
    for name in SINGLE:
        if dumped[name] not in (None, ""):
            pairs.append((name, str(dumped[name])))
    pairs += [(k, v) for k, v in extra.items() if v]
    return urlencode(pairs)


@router.get("/contracts", response_class=HTMLResponse)
def contracts_list(request: Request, rt: Rt, console: ConsoleUser) -> HTMLResponse:
    console.principal.require(Permission.CONTRACT_READ)
    error: AccordError | None = None
    filters, view_id = Filters(), None
    page = search.ContractPage(items=[], next_cursor=None, query="")
    try:
        filters, view_id = _filters(rt, console, request)
        cursor = (request.query_params.get("cursor") or "")[:search.MAX_CURSOR_CHARS] or None
        page = search.search(rt, console.principal, filters, limit=50, cursor=cursor)
    except AccordError as exc:
        error = exc
    qs = _query_string(filters)
    return render(request, "contracts/list.html", status_code=422 if error else 200,
                  filters=filters, page=page, error=error, view_id=view_id,
                  views=views.list_views(rt, console.principal),
                  types=list(ContractType), statuses=list(ContractStatus), query_string=qs,
                  next_qs=_query_string(filters, cursor=page.next_cursor or ""),
                  filters_json=json.dumps(filters.model_dump(mode="json")),
                  **console.context(NAV))


@router.get("/contracts.csv")
def contracts_csv(request: Request, rt: Rt, console: ConsoleUser) -> Response:
    console.principal.require(Permission.CONTRACT_READ)
    filters, _ = _filters(rt, console, request)
    text = search.export_csv(rt, console.principal, filters)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="contracts.csv"'})


@router.post("/contracts/views")
async def save_view(request: Request, rt: Rt, console: ConsoleUser) -> Response:
    form = await request.form()
    console.check_csrf(str(form.get("csrf_token") or ""))
    try:
        data = json.loads(str(form.get("filters") or "{}"))
    except ValueError as exc:
        raise InvalidInput("the filters are not JSON", code="invalid_filters") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the filters are not an object", code="invalid_filters")
    view = views.create_view(rt, console.principal, name=str(form.get("name") or ""),
                             filters=filters_from(data), shared=form.get("shared") == "yes")
    return RedirectResponse(f"/console/contracts?view={view.id}", status_code=303)


@router.post("/contracts/views/{view_id}/delete")
async def delete_view(view_id: str, request: Request, rt: Rt,
                      console: ConsoleUser) -> Response:
    form = await request.form()
    console.check_csrf(str(form.get("csrf_token") or ""))
    views.delete_view(rt, console.principal, view_id)
    return RedirectResponse("/console/contracts", status_code=303)
