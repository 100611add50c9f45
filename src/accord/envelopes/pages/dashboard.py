"""The team dashboard (managers, admins): envelopes by status and by sender.

Thin, like every pages module: check the session, call one service, render."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from accord.envelopes import services as envelopes
from accord.envelopes.domain import EnvelopeStatus
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass(frozen=True)
class SenderRow:
    sender: str
    counts: list[int]
    total: int


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, rt: Rt, console: ConsoleUser) -> HTMLResponse:
    board = envelopes.dashboard(rt, console.principal)
    statuses = [s.value for s in EnvelopeStatus if s.value in board.by_status]
    senders = sorted(
        (SenderRow(who, [counts.get(s, 0) for s in statuses], sum(counts.values()))
         for who, counts in board.by_sender.items()),
        key=lambda row: (-row.total, row.sender))
    return render(request, "console/dashboard.html", board=board, statuses=statuses,
                  senders=senders, total=sum(board.by_status.values()),
                  **console.context("dashboard"))
