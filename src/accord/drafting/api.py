"""REST routes for the clause library, templates and envelopes from templates under /api/v1.
Thin: parse, call one service, shape output."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from accord.drafting import services
from accord.envelopes import services as envelopes
from accord.envelopes.api import ERRORS, RULES_DESCRIPTION, RULES_EXAMPLE
from accord.envelopes.domain import FieldKind
from accord.envelopes.services import EnvelopeView
from accord.errors import InvalidInput
from accord.validation import CleanJson, EmailAddress, EmailOrBlank, MultiLine, SingleLine
from accord.web.deps import (
    CanAuthor,
    CanPublish,
    CanReadTemplates,
    CanUseTemplates,
    Rt,
    client_ip,
    user_agent,
)

router = APIRouter(prefix="/api/v1", tags=["templates"])

Version = Annotated[int | None, Query(ge=1, description="A version number; default: see "
                                      "the route.")]
JSONObject = Annotated[dict[str, Any], CleanJson]  # no control character inside


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- request bodies ------------------------------------------------------------------------


class ClauseIn(Strict):
    key: SingleLine = Field(min_length=1, max_length=80, description="Stable key used by "
                     "templates: `{{ clause(\"key\") }}`; a-z, 0-9 and _.")
    title: SingleLine = Field(min_length=1, max_length=200)
    body: MultiLine = Field(min_length=1, max_length=500_000, description="Markdown (raw HTML "
                      "allowed) with merge fields and field tags.")


class ClauseEdit(Strict):
    title: SingleLine | None = Field(None, min_length=1, max_length=200)
    body: MultiLine | None = Field(None, min_length=1, max_length=500_000)


class DefaultRecipientIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=200)
    email: EmailAddress = Field(min_length=3, max_length=320, description="One address, "
                                "no display name.")


class RoleIn(Strict):
    key: SingleLine = Field(min_length=1, max_length=40, description="Used by field tags: "
                     "`[[signature:customer]]`.")
    name: SingleLine = Field(min_length=1, max_length=200)
    type: Literal["signer", "approver", "cc"] = "signer"
    routing_order: StrictInt = Field(1, ge=1, le=100)
    auth: Literal["email_link"] = "email_link"
    default_recipient: DefaultRecipientIn | None = Field(
        None, description="Who a routing rule's `add_recipient` brings in for this role when "
        "the request names no recipient for it.")


class PdfFieldIn(Strict):
    role: SingleLine = Field(min_length=1, max_length=40,
                             description="The role that fills it.")
    kind: FieldKind
    page: StrictInt | None = Field(None, ge=1)
    x: StrictFloat | None = Field(None, ge=0, description="Points from the page's left edge.")
    y: StrictFloat | None = Field(None, ge=0, description="Points from the page's top edge.")
    width: StrictFloat | None = Field(None, gt=0, le=2000)
    height: StrictFloat | None = Field(None, gt=0, le=2000)
    anchor: SingleLine | None = Field(None, min_length=1, max_length=200)
    anchor_x_offset: StrictFloat = Field(0, ge=-2000, le=2000)
    anchor_y_offset: StrictFloat = Field(0, ge=-2000, le=2000)
    required: StrictBool = True
    label: SingleLine = Field("", max_length=200)


class TemplateContentIn(Strict):
    source: MultiLine | None = Field(None, max_length=500_000, description="HTML or Markdown "
                               "Jinja source (kind html/markdown).")
    content_base64: str | None = Field(None, description="The PDF, base64 (kind pdf).")
    variables: list[JSONObject] | None = Field(None, max_length=500, description="Variable "
                                               "declarations (see the drafting spec).")
    roles: list[RoleIn] | None = Field(None, max_length=20)
    prefill: dict[SingleLine, SingleLine] | None = Field(
        None, description="`{variable: \"dotted.path\"}` into a customer record.")
    sample_data: JSONObject | None = Field(None, description="Data for previews and the "
                                           "publish render; default: generated.")
    pdf_fields: list[PdfFieldIn] | None = Field(None, max_length=500, description="Field "
                                                "placements on the PDF (kind pdf).")
    rules: list[JSONObject] | None = Field(
        None, max_length=50, description=RULES_DESCRIPTION + " Template rules may name only "
        "declared roles and variables; they are pinned with the published version.",
        examples=[RULES_EXAMPLE])
    contract: JSONObject | None = Field(
        None, description='The contract record its envelopes file: `{"type": '
        '"support_services", "fields": {"customer_name": "customer.legal_name", '
        '"end_date": "end_date", ...}}` (contract field -> template variable; checked '
        "against the declared variables: 422 contract_* codes).")


class TemplateIn(TemplateContentIn):
    key: SingleLine = Field(min_length=1, max_length=80, description="a-z, 0-9, _ and -.")
    name: SingleLine = Field(min_length=1, max_length=200)
    kind: Literal["html", "markdown", "pdf"]


class PreviewIn(Strict):
    data: JSONObject | None = Field(None, description="Variable values; default: the "
                                    "version's sample data.")
    customer: JSONObject | None = Field(None, description="A customer record for prefill.")


class KbaFor(Strict):
    question: SingleLine = Field(min_length=1, max_length=300)
    answer: SingleLine = Field(min_length=1, max_length=200)


class RecipientFor(Strict):
    name: SingleLine = Field(max_length=200)
    email: EmailOrBlank = Field(max_length=320, description="One address, no display name; "
                                "blank for a role left to its default recipient.")
    auth: list[Literal["email_otp", "sms_otp", "access_code", "kba"]] = Field(
        default_factory=list, description="Signer authentication on top of what the "
        "template's role requires.")
    phone: SingleLine | None = Field(None, max_length=32, description="E.164, for sms_otp.")
    access_code: SingleLine | None = Field(None, max_length=200, description="Given to the signer "
                                    "out of band; stored hashed.")
    kba: list[KbaFor] = Field(default_factory=list, max_length=5)


class FromTemplateIn(Strict):
    template_key: SingleLine = Field(min_length=1, max_length=80)
    version: StrictInt | None = Field(None, ge=1, description="Default: the latest published.")
    data: JSONObject = Field(default_factory=dict, description="Variable values (nested or "
                             "dotted keys); they win over prefill.")
    recipients: dict[SingleLine, RecipientFor] = Field(description="One recipient per template "
                                                "role: `{role_key: {name, email}}`. Roles "
                                                "that routing rules add may be left out: "
                                                "the role's default recipient is used if a "
                                                "rule adds it (422 rule_recipient_missing "
                                                "if it has none).")
    customer: JSONObject | None = Field(None, description="A customer record; the "
                                        "template's prefill mapping reads values from it.")
    subject: SingleLine | None = Field(None, min_length=1, max_length=300, description="One "
                                       "line; default: the template's name.")
    message: MultiLine = Field("", max_length=5000)
    expires_in_days: StrictInt = Field(120, ge=1, le=365)
    send: StrictBool = Field(False, description="Send at once instead of keeping a draft.")


# -- helpers -------------------------------------------------------------------------------


def _pdf(content_base64: str | None) -> bytes | None:
    if content_base64 is None:
        return None
    try:
        return base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("content_base64 is not valid base64", code="invalid_base64") from exc


def _content(body: TemplateContentIn) -> dict[str, Any]:
    return {
        "source": body.source, "pdf": _pdf(body.content_base64), "variables": body.variables,
        "roles": None if body.roles is None else [r.model_dump(exclude_none=True)
                                                  for r in body.roles],
        "rules": body.rules, "contract": body.contract,
        "prefill": body.prefill, "sample_data": body.sample_data,
        "pdf_fields": None if body.pdf_fields is None else [
            f.model_dump(mode="json", exclude_none=True) for f in body.pdf_fields]}


PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The rendered PDF."}, **ERRORS}


# -- clauses -------------------------------------------------------------------------------


@router.get("/clauses", response_model=list[services.ClauseSummary], responses=ERRORS,
            summary="List the clause library",
            description="Agents and managers see clauses with a published version; legal, "
                        "compliance and admins see every clause.")
def list_clauses(rt: Rt, principal: CanReadTemplates) -> list[services.ClauseSummary]:
    return services.list_clauses(rt, principal)


@router.post("/clauses", status_code=201, response_model=services.ClauseView,
             responses=ERRORS, summary="Create a clause (draft version 1)",
             description="Legal and admins. The body is checked like a template source.")
def create_clause(body: ClauseIn, rt: Rt, principal: CanAuthor) -> services.ClauseView:
    return services.create_clause(rt, principal, key=body.key, title=body.title,
                                  body=body.body)


@router.get("/clauses/{key}", response_model=services.ClauseView, responses=ERRORS,
            summary="A clause with its versions")
def get_clause(key: str, rt: Rt, principal: CanReadTemplates) -> services.ClauseView:
    return services.get_clause(rt, principal, key)


@router.patch("/clauses/{key}", response_model=services.ClauseView, responses=ERRORS,
              summary="Edit a clause",
              description="A draft is edited in place; when the latest version is in review, "
                          "published or retired, the edit becomes a new draft version.")
def edit_clause(key: str, body: ClauseEdit, rt: Rt,
                principal: CanAuthor) -> services.ClauseView:
    return services.edit_clause(rt, principal, key, title=body.title, body=body.body)


@router.post("/clauses/{key}/submit", response_model=services.ClauseView, responses=ERRORS,
             summary="Submit a clause draft for review",
             description="`version` defaults to the latest version.")
def submit_clause(key: str, rt: Rt, principal: CanAuthor,
                  version: Version = None) -> services.ClauseView:
    return services.submit_clause(rt, principal, key, version)


@router.post("/clauses/{key}/reject", response_model=services.ClauseView, responses=ERRORS,
             summary="Send a clause version in review back to draft (legal, admin)")
def reject_clause(key: str, rt: Rt, principal: CanPublish,
                  version: Version = None) -> services.ClauseView:
    return services.reject_clause(rt, principal, key, version)


@router.post("/clauses/{key}/publish", response_model=services.ClauseView, responses=ERRORS,
             summary="Approve and publish a clause version (legal, admin)",
             description="From review; straight from draft only when the organisation does "
                         "not require approval. Templates published later pin it.")
def publish_clause(key: str, rt: Rt, principal: CanPublish,
                   version: Version = None) -> services.ClauseView:
    return services.publish_clause(rt, principal, key, version)


@router.post("/clauses/{key}/retire", response_model=services.ClauseView, responses=ERRORS,
             summary="Retire a published clause version (legal, admin)",
             description="Without `version`, every published version is retired.")
def retire_clause(key: str, rt: Rt, principal: CanPublish,
                  version: Version = None) -> services.ClauseView:
    return services.retire_clause(rt, principal, key, version)


@router.get("/clauses/{key}/diff", response_model=services.Diff, responses=ERRORS,
            summary="Unified diff between two clause versions")
def diff_clause(key: str, rt: Rt, principal: CanReadTemplates,
                from_version: Annotated[int, Query(alias="from", ge=1)],
                to_version: Annotated[int, Query(alias="to", ge=1)]) -> services.Diff:
    return services.diff_clause(rt, principal, key, from_version, to_version)


# -- templates -----------------------------------------------------------------------------


@router.get("/templates", response_model=list[services.TemplateSummary], responses=ERRORS,
            summary="List templates",
            description="Agents and managers see templates with a published version; legal, "
                        "compliance and admins see every template.")
def list_templates(rt: Rt, principal: CanReadTemplates) -> list[services.TemplateSummary]:
    return services.list_templates(rt, principal)


@router.post("/templates", status_code=201, response_model=services.TemplateView,
             responses=ERRORS, summary="Create a template (draft version 1)",
             description="Legal and admins. HTML/Markdown templates give `source`; PDF "
                         "templates give `content_base64` and `pdf_fields`. Everything is "
                         "validated now; a 422 lists every problem in `details`.")
def create_template(body: TemplateIn, rt: Rt,
                    principal: CanAuthor) -> services.TemplateView:
    content = _content(body)
    content["source"] = content["source"] or ""
    return services.create_template(rt, principal, key=body.key, name=body.name,
                                    kind=body.kind, **content)


@router.get("/templates/{key}", response_model=services.TemplateView, responses=ERRORS,
            summary="A template with its versions")
def get_template(key: str, rt: Rt, principal: CanReadTemplates) -> services.TemplateView:
    return services.get_template(rt, principal, key)


@router.patch("/templates/{key}", response_model=services.TemplateView, responses=ERRORS,
              summary="Edit a template",
              description="Give only what changes. A draft is edited in place; when the "
                          "latest version is in review, published or retired, the edit "
                          "becomes a new draft version. Published versions never change.")
def edit_template(key: str, body: TemplateContentIn, rt: Rt,
                  principal: CanAuthor) -> services.TemplateView:
    return services.edit_template(rt, principal, key, **_content(body))


@router.get("/templates/{key}/versions/{version}",
            response_model=services.TemplateVersionView, responses=ERRORS,
            summary="One template version in full")
def get_template_version(key: str, version: int, rt: Rt,
                         principal: CanReadTemplates) -> services.TemplateVersionView:
    return services.get_template_version(rt, principal, key, version)


@router.post("/templates/{key}/submit", response_model=services.TemplateView,
             responses=ERRORS, summary="Submit a template draft for review",
             description="`version` defaults to the latest version.")
def submit_template(key: str, rt: Rt, principal: CanAuthor,
                    version: Version = None) -> services.TemplateView:
    return services.submit_template(rt, principal, key, version)


@router.post("/templates/{key}/reject", response_model=services.TemplateView,
             responses=ERRORS,
             summary="Send a template version in review back to draft (legal, admin)")
def reject_template(key: str, rt: Rt, principal: CanPublish,
                    version: Version = None) -> services.TemplateView:
    return services.reject_template(rt, principal, key, version)


@router.post("/templates/{key}/publish", response_model=services.TemplateView,
             responses=ERRORS, summary="Approve and publish a template version (legal, admin)",
             description="Pins the latest published version of each clause it uses and "
                         "records `source_sha256` and `fields_sha256`; the version never "
                         "changes again.")
def publish_template(key: str, rt: Rt, principal: CanPublish,
                     version: Version = None) -> services.TemplateView:
    return services.publish_template(rt, principal, key, version)


@router.post("/templates/{key}/retire", response_model=services.TemplateView,
             responses=ERRORS, summary="Retire a published template version (legal, admin)",
             description="Without `version`, every published version is retired.")
def retire_template(key: str, rt: Rt, principal: CanPublish,
                    version: Version = None) -> services.TemplateView:
    return services.retire_template(rt, principal, key, version)


@router.get("/templates/{key}/diff", response_model=services.Diff, responses=ERRORS,
            summary="Unified diff between two template versions",
            description="Source first, then variables, roles, prefill (and PDF placements) "
                        "as pretty JSON.")
def diff_template(key: str, rt: Rt, principal: CanReadTemplates,
                  from_version: Annotated[int, Query(alias="from", ge=1)],
                  to_version: Annotated[int, Query(alias="to", ge=1)]) -> services.Diff:
    return services.diff_template(rt, principal, key, from_version, to_version)


@router.post("/templates/{key}/preview", response_class=Response, responses=PDF_RESPONSE,
             summary="Render a template version as a PDF preview",
             description="`version` defaults to the latest version the caller may see. Data "
                         "is validated first (a 422 lists every problem).")
def preview_template(key: str, rt: Rt, principal: CanReadTemplates, version: Version = None,
                     body: PreviewIn | None = None) -> Response:
    body = body or PreviewIn()
    data = services.preview(rt, principal, key=key, version=version, data=body.data,
                            customer=body.customer)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{key}-preview.pdf"'})


@router.post("/template-versions/{version_id}/preview", response_class=Response,
             responses=PDF_RESPONSE, summary="Render a template version (by id) as a preview")
def preview_version(version_id: str, rt: Rt, principal: CanReadTemplates,
                    body: PreviewIn | None = None) -> Response:
    body = body or PreviewIn()
    data = services.preview(rt, principal, version_id=version_id, data=body.data,
                            customer=body.customer)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="preview.pdf"'})


@router.post("/envelopes/from-template", status_code=201, response_model=EnvelopeView,
             responses=ERRORS, summary="Create an envelope from a published template",
             description="Prefill from `customer`, then `data`; every problem with the data or "
                         "the recipients is reported at once (422 `template_data_invalid`, "
                         "`role_recipient_missing`). The document is rendered with the "
                         "envelope id; fields come from the template's tags.")
def create_from_template(body: FromTemplateIn, rt: Rt, principal: CanUseTemplates,
                         request: Request) -> envelopes.EnvelopeView:
    actor = envelopes.staff_actor(principal, client_ip(request), user_agent(request))
    env_id = services.create_from_template(
        rt, principal, template_key=body.template_key, version=body.version, data=body.data,
        recipients={k: r.model_dump() for k, r in body.recipients.items()},
        customer=body.customer, subject=body.subject, message=body.message, send=body.send,
        expires_in_days=body.expires_in_days, actor=actor)
    return envelopes.get(rt, principal, env_id)


# -- settings ------------------------------------------------------------------------------


@router.get("/organisation/drafting-settings", response_model=services.DraftingSettings,
            responses=ERRORS, summary="The organisation's template settings",
            description="Readable by every template user; admins change them with "
                        "`PATCH /api/v1/organisation/settings`.")
def get_settings(rt: Rt, principal: CanReadTemplates) -> services.DraftingSettings:
    return services.get_settings(rt, principal)
