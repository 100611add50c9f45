"""REST routes for outbound webhooks under /api/v1/webhooks (admins: ``settings:manage``).

Thin: parse, call one service of ``accord.webhooks.services``, return its view."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from accord.validation import SingleLine
from accord.web.deps import CanManageSettings, Rt
from accord.web.openapi import error_responses
from accord.webhooks import services as webhooks
from accord.webhooks.domain import EVENTS
from accord.webhooks.services import (
    EndpointView,
    EndpointWithSecret,
    MessageDetail,
    MessageView,
    ReplayResult,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
ERRORS = error_responses(401, 403, 404, 409, 422, 429)
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


@router.get("/event-types", response_model=list[EventTypeOut], responses=ERRORS,
            summary="Event types an endpoint can subscribe to")
def event_types(_principal: CanManageSettings) -> list[EventTypeOut]:
    return [EventTypeOut(type=k, description=v) for k, v in EVENTS.items()]


@router.get("/endpoints", response_model=list[EndpointView], responses=ERRORS,
            summary="List webhook endpoints (admin)")
def list_endpoints(rt: Rt, principal: CanManageSettings) -> list[EndpointView]:
    return webhooks.list_endpoints(rt, principal)


@router.post("/endpoints", status_code=201, response_model=EndpointWithSecret,
             responses=ERRORS, summary="Register a webhook endpoint (admin)",
             description="The signing secret (`whsec_...`) is in the answer and never shown "
             "again. 422 codes: `invalid_url`, `https_required`, `url_not_allowed`, "
             "`unknown_event_type`, `invalid_description`; 409 `too_many_endpoints`.")
def create_endpoint(body: EndpointIn, rt: Rt,
                    principal: CanManageSettings) -> EndpointWithSecret:
    return webhooks.create_endpoint(rt, principal, url=body.url, description=body.description,
                                    event_types=body.event_types)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointView, responses=ERRORS,
            summary="One webhook endpoint (admin)")
def get_endpoint(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> EndpointView:
    return webhooks.get_endpoint(rt, principal, endpoint_id)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointView, responses=ERRORS,
              summary="Change an endpoint's URL, description, events or enabled flag (admin)")
def update_endpoint(endpoint_id: str, body: EndpointPatch, rt: Rt,
                    principal: CanManageSettings) -> EndpointView:
    return webhooks.update_endpoint(rt, principal, endpoint_id, url=body.url,
                                    description=body.description,
                                    event_types=body.event_types, enabled=body.enabled)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret,
             responses=ERRORS, summary="New signing secret (shown once; admin)",
             description="The previous secret keeps signing alongside the new one for 24 "
             "hours (two signatures in `webhook-signature`).")
def rotate_secret(endpoint_id: str, rt: Rt,
                  principal: CanManageSettings) -> EndpointWithSecret:
    return webhooks.rotate_secret(rt, principal, endpoint_id)


@router.post("/endpoints/{endpoint_id}/test", status_code=202, response_model=MessageView,
             responses=ERRORS, summary="Send a webhook.test event to this endpoint (admin)")
def send_test(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> MessageView:
    return webhooks.send_test(rt, principal, endpoint_id)


@router.post("/endpoints/{endpoint_id}/replay-failed", response_model=ReplayResult,
             responses=ERRORS, summary="Replay every dead message of this endpoint (admin)")
def replay_failed(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> ReplayResult:
    return webhooks.replay_failed(rt, principal, endpoint_id)


@router.get("/messages", response_model=list[MessageView], responses=ERRORS,
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


@router.get("/messages/{webhook_message_id}", response_model=MessageDetail,
                     responses=ERRORS,
                     summary="One message with its payload and every delivery attempt (admin)")
def get_message(webhook_message_id: str, rt: Rt,
                principal: CanManageSettings) -> MessageDetail:
    return webhooks.get_message(rt, principal, webhook_message_id)


@router.post("/messages/{webhook_message_id}/replay", response_model=MessageView,
             responses=ERRORS, summary="Send a dead or delivered message again (admin)",
             description="Same `webhook-id`, a fresh set of attempts. 409 `message_pending` "
             "while it is still being delivered, `endpoint_disabled` if its endpoint is off.")
def replay(webhook_message_id: str, rt: Rt, principal: CanManageSettings) -> MessageView:
    return webhooks.replay(rt, principal, webhook_message_id)


@router.delete("/endpoints/{endpoint_id}", status_code=204, response_class=Response,
               responses=ERRORS, summary="Delete an endpoint with its messages (admin)")
def delete_endpoint(endpoint_id: str, rt: Rt, principal: CanManageSettings) -> Response:
    webhooks.delete_endpoint(rt, principal, endpoint_id)
    return Response(status_code=204)
