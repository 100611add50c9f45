"""REST routes for outbound webhooks under /api/v1/webhooks (admins: ``settings:manage``)
and for the outbox under /api/v1/outbox (admins: ``outbox:manage``).

Thin: parse, call one service of ``accord.delivery.webhooks`` or ``.services``, return its
view."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from accord.accounts.domain import Permission
from accord.accounts.services import Principal
from accord.delivery import services, webhooks
from accord.delivery.services import OutboxView
from accord.delivery.webhooks import (
    EndpointView,
    EndpointWithSecret,
    MessageDetail,
    MessageView,
    ReplayResult,
)
from accord.delivery.webhooks_domain import EVENTS
from accord.validation import SingleLine
from accord.web.deps import CanManageSettings, Rt, requires

router = APIRouter()  # both, mounted by the app
webhooks_router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
outbox_router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])
CanManageOutbox = Annotated[Principal, Depends(requires(Permission.OUTBOX_MANAGE))]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": "Error: `{\"error\": {\"code\", \"message\", \"details\"}}`"}
    for code in (401, 403, 404, 409, 422, 429)}
EVENTS_HELP = ("Event types to receive (empty or absent: every event). Known: "
               + ", ".join(f"`{e}`" for e in EVENTS if e != "webhook.test") + ".")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EndpointIn(Strict):
    url: SingleLine = Field(min_length=1, max_length=2000, description="Where to POST events: "
                     "https:// (unless ACCORD_WEBHOOK_REQUIRE_HTTPS=false), a public "
                     "address, no credentials in the URL.")
    description: SingleLine = Field("", max_length=200)
    event_types: list[SingleLine] = Field(default_factory=list, max_length=len(EVENTS),
                                   description=EVENTS_HELP)


class EndpointPatch(Strict):
    url: SingleLine | None = Field(None, min_length=1, max_length=2000)
    description: SingleLine | None = Field(None, max_length=200)
    event_types: list[SingleLine] | None = Field(None, max_length=len(EVENTS),
                                          description=EVENTS_HELP)
    enabled: bool | None = Field(None, description="false stops deliveries; true re-enables "
                                 "a disabled endpoint and forgets its failures.")


class EventTypeOut(BaseModel):
    type: str
    description: str


@webhooks_router.get("/event-types", response_model=list[EventTypeOut], responses=ERRORS,
            summary="Event types an endpoint can subscribe to")
def event_types(_principal: CanManageSettings) -> list[EventTypeOut]:
    return [EventTypeOut(type=k, description=v) for k, v in EVENTS.items()]


@webhooks_router.get("/endpoints", response_model=list[EndpointView], responses=ERRORS,
            summary="List webhook endpoints (admin)")
def list_endpoints(rt: Rt, principal: CanManageSettings) -> list[EndpointView]:
    return webhooks.list_endpoints(rt, principal)


@webhooks_router.post("/endpoints", status_code=201, response_model=EndpointWithSecret,
             responses=ERRORS, summary="Register a webhook endpoint (admin)",
             description="The signing secret (`whsec_...`) is in the answer and never shown "
             "again. 422 codes: `invalid_url`, `https_required`, `url_not_allowed`, "
             "`unknown_event_type`, `invalid_description`; 409 `too_many_endpoints`.")
def create_endpoint(body: EndpointIn, rt: Rt,
                    principal: CanManageSettings) -> EndpointWithSecret:
    return webhooks.create_endpoint(rt, principal, url=body.url, description=body.description,
                                    event_types=body.event_types)


@webhooks_router.get("/endpoints/{endpoint_id}", response_model=EndpointView, responses=ERRORS,
            summary="One webhook endpoint (admin)")
def get_endpoint(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> EndpointView:
    return webhooks.get_endpoint(rt, principal, endpoint_id)


@webhooks_router.patch("/endpoints/{endpoint_id}", response_model=EndpointView, responses=ERRORS,
              summary="Change an endpoint's URL, description, events or enabled flag (admin)")
def update_endpoint(endpoint_id: str, body: EndpointPatch, rt: Rt,
                    principal: CanManageSettings) -> EndpointView:
    return webhooks.update_endpoint(rt, principal, endpoint_id, url=body.url,
                                    description=body.description,
                                    event_types=body.event_types, enabled=body.enabled)


@webhooks_router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret,
             responses=ERRORS, summary="New signing secret (shown once; admin)",
             description="The previous secret keeps signing alongside the new one for 24 "
             "hours (two signatures in `webhook-signature`).")
def rotate_secret(endpoint_id: str, rt: Rt,
                  principal: CanManageSettings) -> EndpointWithSecret:
    return webhooks.rotate_secret(rt, principal, endpoint_id)


@webhooks_router.post("/endpoints/{endpoint_id}/test", status_code=202, response_model=MessageView,
             responses=ERRORS, summary="Send a webhook.test event to this endpoint (admin)")
def send_test(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> MessageView:
    return webhooks.send_test(rt, principal, endpoint_id)


@webhooks_router.post("/endpoints/{endpoint_id}/replay-failed", response_model=ReplayResult,
             responses=ERRORS, summary="Replay every dead message of this endpoint (admin)")
def replay_failed(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> ReplayResult:
    return webhooks.replay_failed(rt, principal, endpoint_id)


@webhooks_router.get("/messages", response_model=list[MessageView], responses=ERRORS,
            summary="Webhook messages, newest first (admin)",
            description="`status=failed`: dead messages and pending ones whose last attempt "
            "failed; `status=dead`: messages that used up every attempt (replayable).")
def list_messages(rt: Rt, principal: CanManageSettings,
                  endpoint_id: Annotated[str | None, Query(max_length=36)] = None,
                  status: Annotated[Literal["pending", "delivered", "dead", "failed"] | None,
                                    Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[MessageView]:
    return webhooks.list_messages(rt, principal, endpoint_id=endpoint_id, status=status,
                                  limit=limit, offset=offset)


@webhooks_router.get("/messages/{webhook_message_id}", response_model=MessageDetail,
                     responses=ERRORS,
                     summary="One message with its payload and every delivery attempt (admin)")
def get_message(webhook_message_id: str, rt: Rt,
                principal: CanManageSettings) -> MessageDetail:
    return webhooks.get_message(rt, principal, webhook_message_id)


@webhooks_router.post("/messages/{webhook_message_id}/replay", response_model=MessageView,
             responses=ERRORS, summary="Send a dead or delivered message again (admin)",
             description="Same `webhook-id`, a fresh set of attempts. 409 `message_pending` "
             "while it is still being delivered, `endpoint_disabled` if its endpoint is off.")
def replay(webhook_message_id: str, rt: Rt, principal: CanManageSettings) -> MessageView:
    return webhooks.replay(rt, principal, webhook_message_id)


@webhooks_router.delete("/endpoints/{endpoint_id}", status_code=204, response_class=Response,
               responses=ERRORS, summary="Delete an endpoint with its messages (admin)")
def delete_endpoint(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> Response:
    webhooks.delete_endpoint(rt, principal, endpoint_id)
    return Response(status_code=204)


# -- the outbox (emails, webhooks, background work) ---------------------------------------


@outbox_router.get("", response_model=list[OutboxView], responses=ERRORS,
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


@outbox_router.post("/{outbox_id}/replay", response_model=OutboxView, responses=ERRORS,
                    summary="Queue a dead message again (admin)",
                    description="Due now with a fresh set of attempts; an email keeps its "
                    "Message-ID. 404 `message_not_found` (also for another organisation's "
                    "message), 409 `message_not_dead`.")
def replay_outbox(outbox_id: str, rt: Rt, principal: CanManageOutbox) -> OutboxView:
    return services.replay(rt, principal, outbox_id)


router.include_router(webhooks_router)
router.include_router(outbox_router)
