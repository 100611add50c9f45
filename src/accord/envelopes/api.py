"""REST routes for envelopes under /api/v1. Thin: parse, call one service, shape output."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from accord.envelopes import lifecycle, services
from accord.envelopes.domain import EnvelopeStatus, FieldKind, RecipientRole
from accord.envelopes.placement import FieldRequest
from accord.envelopes.services import EnvelopeView, documents
from accord.errors import InvalidInput
from accord.validation import CleanJson, EmailAddress, MultiLine, SingleLine
from accord.web.deps import (
    ApiCaller,
    CanRead,
    CanReadAudit,
    CanReadDashboard,
    CanSend,
    CanVoid,
    Rt,
    client_ip,
    user_agent,
)

router = APIRouter(prefix="/api/v1", tags=["envelopes"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=300,
                             description="File name shown to signers (one line).")
    content_base64: str = Field(description="The PDF, base64-encoded.")


class KbaIn(Strict):
    question: SingleLine = Field(min_length=3, max_length=300)
    answer: SingleLine = Field(min_length=1, max_length=200, description="Stored hashed; compared "
                        "case-folded, with punctuation removed and whitespace collapsed.")


EMAIL_DESCRIPTION = ("One address, no display name (`ann@example.com`, not "
                     "`Ann <ann@example.com>`), with a real domain; stored with the domain "
                     "lower-cased.")

AuthFactor = Literal["email_otp", "sms_otp", "access_code", "kba"]


class RecipientIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=200)
    email: EmailAddress = Field(min_length=3, max_length=320, description=EMAIL_DESCRIPTION)
    role: RecipientRole = Field(RecipientRole.SIGNER, description="signer, approver or cc.")
    routing_order: StrictInt = Field(1, ge=1, le=100, description="Equal orders act in parallel; "
                               "the next order starts when the previous one is done.")
    auth: list[AuthFactor] = Field(
        default_factory=list, max_length=4,
        description="Factors the recipient must pass after opening the email link, in this "
        "order: email_otp, sms_otp, access_code, kba. Empty = the email link alone.")
    phone: SingleLine | None = Field(None, max_length=32, description="E.164 number, e.g. "
                              "+15550100123; required with sms_otp.")
    access_code: SingleLine | None = Field(None, max_length=200, description="At least 6 "
                                    "characters, given to the signer out of band; only a "
                                    "hash is stored. Required with access_code.")
    kba: list[KbaIn] = Field(default_factory=list, max_length=5, description="Questions "
                             "the recipient must answer; required with kba.")
    key: SingleLine | None = Field(None, min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$",
                            description="A name routing `rules` use for this recipient "
                            "(unique). A recipient whose key a rule's `add_recipient` names "
                            "is on the envelope only when that rule fires.")


# Documented here for both envelope and template routes; checked by envelopes.routing
# (so a wrong rule gets a 422 with a stable code per problem, all problems at once).
RULES_DESCRIPTION = (
    "Conditional routing rules, applied in order when the envelope is created and checked "
    "again at send and before each routing step. A rule is `{id, description, when, then}`. "
    "`when` is a condition: `{var, op, value}` with op eq, ne, gt, gte, lt, lte, in, not_in "
    "or exists (no value), or `{all: [...]}`, `{any: [...]}`, `{not: {...}}`. `then` lists "
    "1-10 actions on roles (recipient keys): `add_recipient` (with `before`/`after` a role "
    "or `routing_order`), `skip_role`, `set_order` (`routing_order`), `reorder` "
    "(`before`/`after`), `require_auth` (`method`, e.g. `sms_otp`). Every decision is an "
    "audit event `routing:rule_fired` / `routing:rule_skipped` with the values read. "
    "Problems: 422 `rules_invalid` (or the single problem's code) listing each in `details`.")
RULES_EXAMPLE = [{
    "id": "legal-over-50k",
    "description": "Contract value over 50,000 adds the Legal approver before the customer",
    "when": {"var": "contract_value", "op": "gt", "value": 50000},
    "then": [{"action": "add_recipient", "role": "legal", "before": "customer"}]}]


class FieldIn(Strict):
    recipient: StrictInt = Field(ge=0, description="Index into `recipients`.")
    kind: FieldKind
    document: StrictInt = Field(0, ge=0, description="Index into `documents`.")
    page: StrictInt | None = Field(None, ge=1, description="1-based page (with x and y).")
    x: StrictFloat | None = Field(None, ge=0, description="Points from the page's left edge.")
    y: StrictFloat | None = Field(None, ge=0, description="Points from the page's top edge.")
    width: StrictFloat | None = Field(None, gt=0, le=2000)
    height: StrictFloat | None = Field(None, gt=0, le=2000)
    anchor: SingleLine | None = Field(None, min_length=1, max_length=200, description="Place the "
                               "field at every occurrence of this text (instead of x/y).")
    anchor_x_offset: StrictFloat = Field(0, ge=-2000, le=2000)
    anchor_y_offset: StrictFloat = Field(0, ge=-2000, le=2000, description="Positive moves down.")
    required: StrictBool = True
    label: SingleLine = Field("", max_length=200, description="One line.")


class EnvelopeIn(Strict):
    subject: SingleLine = Field(min_length=1, max_length=300, description="One line.")
    message: MultiLine = Field("", max_length=5000, description="Line breaks allowed.")
    documents: list[DocumentIn] = Field(min_length=1, max_length=20)
    recipients: list[RecipientIn] = Field(min_length=1, max_length=100)
    fields: list[FieldIn] = Field(default_factory=list, max_length=1000)
    rules: list[Annotated[dict[str, Any], CleanJson]] = Field(default_factory=list, max_length=50,
                                        description=RULES_DESCRIPTION,
                                        examples=[RULES_EXAMPLE])
    data: Annotated[dict[str, Any], CleanJson] = Field(
        default_factory=dict, description="The envelope data the "
                                 "`rules` read (`var` paths), e.g. `{\"contract_value\": "
                                 "60000}`. Only the values the rules read are kept.")
    expires_in_days: StrictInt = Field(120, ge=1, le=365)
    send: StrictBool = Field(False, description="Send at once instead of keeping a draft.")
    reminder_interval_hours: StrictInt | None = Field(
        None, ge=0, le=720, description="Remind each recipient whose turn it is every N "
        "hours until they act; 0 = no reminders; omitted = the organisation's setting "
        "(default 48).")
    allow_delegation: StrictBool = Field(False, description="Signers and approvers may hand their "
                                   "part to someone else from the signing page.")


class CorrectIn(Strict):
    name: SingleLine | None = Field(None, min_length=1, max_length=200)
    email: EmailAddress | None = Field(None, min_length=3, max_length=320,
                                       description=EMAIL_DESCRIPTION)
    phone: SingleLine | None = Field(None, max_length=32, description="E.164 (SMS recipients).")


class ReassignIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=200)
    email: EmailAddress = Field(min_length=3, max_length=320, description=EMAIL_DESCRIPTION)
    phone: SingleLine | None = Field(None, max_length=32, description="E.164; required when the "
                              "part uses sms_otp.")
    access_code: SingleLine | None = Field(None, max_length=200, description="A new access code "
                                    "for the new person; required when the part uses "
                                    "access_code.")
    kba: list[KbaIn] = Field(default_factory=list, max_length=5, description="New "
                             "questions; required when the part uses kba.")


class RemindersIn(Strict):
    interval_hours: StrictInt | None = Field(ge=0, le=720, description="Hours between reminders "
                                       "for this envelope; 0 = none; null = follow the "
                                       "organisation's setting.")


class VoidIn(Strict):
    reason: MultiLine = Field(min_length=1, max_length=1000)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422)}


def _decode(i: int, doc: DocumentIn) -> services.DocumentInput:
    try:
        data = base64.b64decode(doc.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"documents[{i}].content_base64 is not valid base64",
                           code="invalid_base64") from exc
    return services.DocumentInput(name=doc.name, data=data)


@router.post("/envelopes", status_code=201, response_model=EnvelopeView,
             responses=ERRORS,
             summary="Create an envelope (and optionally send it)",
             description="Every problem is reported at once (422, nothing created). One-line "
             "fields refuse line breaks, tabs and control characters; the message may hold "
             "line breaks. Emails are one address each, no display name. With `send: true` "
             "the envelope is created and sent in one transaction: every signer needs a "
             "field of kind `signature` of their own (422 `signer_without_signature`, "
             "naming each in `details`); an envelope of approvers only may be sent (they "
             "approve without fields), one nobody acts on is 422 `no_signers`.")
def create_envelope(body: EnvelopeIn, rt: Rt, principal: CanSend,
                    request: Request) -> services.EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    env_id = services.create(
        rt, principal, subject=body.subject, message=body.message,
        documents=[_decode(i, d) for i, d in enumerate(body.documents)],
        recipients=[services.RecipientInput(
            r.name, r.email, r.role, r.routing_order, auth=tuple(r.auth), phone=r.phone,
            access_code=r.access_code, key=r.key,
            kba=tuple(services.KbaInput(k.question, k.answer) for k in r.kba),
            may_delegate=body.allow_delegation and r.role is not RecipientRole.CC)
            for r in body.recipients],
        fields=[FieldRequest(**f.model_dump()) for f in body.fields],
        rules=body.rules, data=body.data,
        expires_in_days=body.expires_in_days, actor=actor,
        reminder_interval_hours=body.reminder_interval_hours, send=body.send)
    return services.get(rt, principal, env_id)


@router.get("/envelopes", response_model=services.Page, responses=ERRORS,
            summary="List envelopes, newest first")
def list_envelopes(rt: Rt, principal: CanRead,
                   status: Annotated[EnvelopeStatus | None, Query()] = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> services.Page:
    return services.list_envelopes(rt, principal, status=status.value if status else None,
                                   limit=limit, offset=offset)


@router.get("/dashboard", response_model=services.Dashboard, responses=ERRORS,
            summary="Counts of the team's envelopes by status and sender (managers, admins)")
def get_dashboard(rt: Rt, principal: CanReadDashboard) -> services.Dashboard:
    return services.dashboard(rt, principal)


@router.get("/envelopes/{envelope_id}", response_model=EnvelopeView,
             responses=ERRORS,
            summary="An envelope with its recipients' states")
async def get_envelope(envelope_id: str, rt: Rt, caller: ApiCaller) -> services.EnvelopeView:
    # one trip to the thread pool, one transaction: the key is checked inside the read
    return await run_in_threadpool(services.get, rt, caller, envelope_id)


@router.post("/envelopes/{envelope_id}/send", response_model=EnvelopeView,
             responses=ERRORS,
             summary="Send a draft envelope",
             description="422 `signer_without_signature` (each signer without a field of "
             "kind `signature`, in `details`) or `no_signers`; the draft stays a draft.")
def send_envelope(envelope_id: str, rt: Rt, principal: CanSend,
                  request: Request) -> services.EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return (services.send(rt, principal, envelope_id, actor=actor))


@router.post("/envelopes/{envelope_id}/void", response_model=EnvelopeView,
             responses=ERRORS,
             summary="Void a draft or sent envelope, with a reason")
def void_envelope(envelope_id: str, body: VoidIn, rt: Rt, principal: CanVoid,
                  request: Request) -> services.EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return (services.void(rt, principal, envelope_id, body.reason, actor=actor))


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/resend",
             response_model=EnvelopeView, responses=ERRORS,
             summary="Send a recipient whose turn it is a new link (the old one dies)")
def resend_recipient(envelope_id: str, recipient_id: str, rt: Rt, principal: CanSend,
                     request: Request) -> EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return services.resend(rt, principal, envelope_id, recipient_id, actor=actor)


@router.patch("/envelopes/{envelope_id}/recipients/{recipient_id}",
              response_model=EnvelopeView, responses=ERRORS,
              summary="Correct a recipient's name, email or phone before they act")
def correct_recipient(envelope_id: str, recipient_id: str, body: CorrectIn, rt: Rt,
                      principal: CanSend, request: Request) -> EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return services.correct(rt, principal, envelope_id, recipient_id, name=body.name,
                            email=body.email, phone=body.phone, actor=actor)


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/reassign",
             response_model=EnvelopeView, responses=ERRORS,
             summary="Give a recipient's part to another person (the old link dies)",
             description="For a recipient who has not acted yet. Their link and signer "
             "sessions die; if it is their turn, the new person is sent a new link. The "
             "part keeps its authentication factors: give the new person's phone, access "
             "code or questions as those need. Audited as `recipient:reassigned`.")
def reassign_recipient(envelope_id: str, recipient_id: str, body: ReassignIn, rt: Rt,
                       principal: CanSend, request: Request) -> EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return lifecycle.reassign(rt, principal, envelope_id, recipient_id, name=body.name,
                              email=body.email, phone=body.phone,
                              access_code=body.access_code,
                              kba=[(k.question, k.answer) for k in body.kba], actor=actor)


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/remind",
             response_model=EnvelopeView, responses=ERRORS,
             summary="Remind a recipient whose turn it is now (their link stays the same)",
             description="Queues a reminder email with the recipient's current link and "
             "restarts their automatic reminder interval. Audited as `recipient:reminded`.")
def remind_recipient(envelope_id: str, recipient_id: str, rt: Rt, principal: CanSend,
                     request: Request) -> EnvelopeView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return lifecycle.remind(rt, principal, envelope_id, recipient_id, actor=actor)


@router.get("/envelopes/{envelope_id}/reminders", response_model=lifecycle.LifecycleView,
            responses=ERRORS,
            summary="Reminder and expiry-warning settings, and each recipient's reminders")
def get_reminders(envelope_id: str, rt: Rt, principal: CanRead) -> lifecycle.LifecycleView:
    return lifecycle.get_lifecycle(rt, principal, envelope_id)


@router.patch("/envelopes/{envelope_id}/reminders", response_model=lifecycle.LifecycleView,
              responses=ERRORS,
              summary="Set the envelope's own reminder interval (or follow the organisation's)",
              description="Draft or sent envelopes only. Audited as "
              "`envelope:reminders_changed`.")
def set_reminders(envelope_id: str, body: RemindersIn, rt: Rt, principal: CanSend,
                  request: Request) -> lifecycle.LifecycleView:
    actor = services.staff_actor(principal, client_ip(request), user_agent(request))
    return lifecycle.set_reminders(rt, principal, envelope_id, body.interval_hours,
                                   actor=actor)


@router.get("/envelopes/{envelope_id}/document", responses={
    200: {"content": {"application/pdf": {}}, "description": "The sealed PDF."}, **ERRORS},
    response_class=Response, summary="Download the completed, sealed PDF",
    description="409 `not_completed` until the envelope is `completed`, including while it "
                "is `completing` (the worker is sealing it).")
def download_document(envelope_id: str, rt: Rt, principal: CanRead,
                      request: Request) -> Response:
    data = documents.sealed_pdf(rt, principal, envelope_id,
                                actor=f"user:{principal.email}", ip=client_ip(request),
                                user_agent=user_agent(request))
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{envelope_id}.pdf"'})


@router.get("/envelopes/{envelope_id}/audit", responses=ERRORS,
            summary="The envelope's hash-linked audit trail, signed by the organisation",
            description="The `accord-audit-trail/1` export: `events` (hash-linked: each "
            "`hash` is SHA-256 over canonical JSON of the event and the previous `hash`), "
            "`count`, `head_hash`, `exported_at`, `envelope` (`status`, signer and approver "
            "`recipients`, and `sealed_pdf_sha256` once completed) and `signature`: a "
            "detached signature by the organisation's seal key (`algorithm`, base64 "
            "`value`, PEM `certificates` from the seal certificate to its root) over the "
            "canonical JSON (sorted keys, no whitespace, UTF-8) of the document without "
            "`signature`. Check it offline with `accord verify FILE.audit.json "
            "[--pdf FILE.pdf] [--trust root.pem]`; the root is "
            "`GET /api/v1/organisation/root-certificate`.")
def get_audit(envelope_id: str, rt: Rt, principal: CanReadAudit) -> dict[str, Any]:
    return documents.audit_trail(rt, principal, envelope_id)


@router.get("/organisation/root-certificate", responses={
    200: {"content": {"application/x-pem-file": {}}}, **ERRORS}, response_class=Response,
    summary="The organisation's root certificate (trust anchor for `accord verify`)")
def root_certificate(rt: Rt, principal: CanRead) -> Response:
    return Response(documents.root_pem(rt, principal), media_type="application/x-pem-file")


