"""REST routes for the outbox under /api/v1/outbox (admins: ``outbox:manage``).

Thin: parse, call one service of ``accord.delivery.services``, return its view."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from accord.access import Permission, Principal
from accord.delivery import services
from accord.delivery.services import OutboxView
from accord.web.deps import Rt, requires
from accord.web.openapi import error_responses

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])
CanManageOutbox = Annotated[Principal, Depends(requires(Permission.OUTBOX_MANAGE))]
ERRORS = error_responses(401, 403, 404, 409, 422, 429)

# -- the outbox (emails, webhooks, background work) ---------------------------------------


@router.get("", response_model=list[OutboxView], responses=ERRORS,
                   summary="The organisation's outbox messages (admin)",
                   description="Newest first; `status=dead` lists the messages that failed "
                   "for good (most recently failed first), with the last error. The payload "
                   "is left out (it may hold links); `to` is an email's recipient, masked.")
def list_outbox(rt: Rt, principal: CanManageOutbox,
                status: Annotated[Literal["pending", "delivered", "dead"] | None,
                                  Query()] = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 50,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[OutboxView]:
    return services.list_outbox(rt, principal, status=status, limit=limit, offset=offset)


@router.post("/{outbox_id}/replay", response_model=OutboxView, responses=ERRORS,
                    summary="Queue a dead message again (admin)",
                    description="Due now with a fresh set of attempts; an email keeps its "
                    "Message-ID. 404 `message_not_found` (also for another organisation's "
                    "message), 409 `message_not_dead`.")
def replay_outbox(outbox_id: str, rt: Rt, principal: CanManageOutbox) -> OutboxView:
    return services.replay(rt, principal, outbox_id)

