"""The disposition review page: contracts whose retention has run out (compliance, admin,
legal: ``contract:disposition``). It lists; it destroys nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from accord.access import Permission
from accord.contracts.services import retention as service
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console/contracts", include_in_schema=False)
PAGE_SIZE = 50


@router.get("/disposition", response_class=HTMLResponse)
def disposition_page(request: Request, rt: Rt, console: ConsoleUser,
                     offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    p = console.principal
    p.require(Permission.CONTRACT_DISPOSITION)
    got = service.disposition(rt, p, limit=PAGE_SIZE, offset=offset)
    return render(request, "contracts/disposition.html", review=got,
                  **console.context("disposition"))
