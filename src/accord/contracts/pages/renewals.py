"""The renewals pipeline page: contracts due for renewal in 30/60/90/120 days and those
overdue, per band, soonest end first, for the user's organisation (``contract:read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from accord.access import Permission
from accord.contracts.services import pipeline as pipe
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console/contracts", include_in_schema=False)
LABELS = {"overdue": "Overdue", "30": "Within 30 days", "60": "31-60 days",
          "90": "61-90 days", "120": "91-120 days"}
PAGE_SIZE = 50


@router.get("/renewals", response_class=HTMLResponse)
def renewals_page(request: Request, rt: Rt, console: ConsoleUser,
                  band: Annotated[str, Query(max_length=10)] = "",
                  mine: Annotated[str, Query(max_length=5)] = "",
                  cursor: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    p = console.principal
    p.require(Permission.CONTRACT_READ)
    chosen = band if band in pipe.BANDS else None
    got = pipe.pipeline(rt, p, band=chosen, owner_id=p.user_id if mine == "1" else None,
                            limit=PAGE_SIZE, cursor=cursor or None)
    return render(request, "contracts/renewals.html", pipeline=got, band=chosen or "",
                  mine=mine == "1", labels=LABELS, first_page=not cursor,
                  **console.context("renewals"))
