"""REST routes for users, API keys and organisation settings under /api/v1."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from accord.access import Permission, Principal, Role, Scope
from accord.accounts.services import admin
from accord.validation import EmailAddress, SingleLine
from accord.web.deps import ApiPrincipal, CanManageSettings, CanManageUsers, Rt, requires
from accord.web.openapi import error_responses

router = APIRouter(prefix="/api/v1", tags=["accounts"])
ERRORS = error_responses(401, 403, 404, 409, 422, 429)
KEY_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 403: {"description": (
    "Error: `scope_missing` (the calling key lacks the `api-keys:manage` scope) or "
    "`scope_not_allowed` (the key asked for, or the key to revoke, is broader than the "
    "calling key or than your role)")}}


# managing keys takes the api-keys:manage scope; a key never reaches a broader key
CanManageKeys = Annotated[Principal, Depends(requires(Permission.API_KEYS_MANAGE))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(Strict):
    email: EmailAddress = Field(min_length=3, max_length=320, description="One address, no "
                                "display name; stored lower-cased.")
    name: SingleLine = Field(min_length=1, max_length=200)
    role: Role
    team: SingleLine | None = Field(None, max_length=80)


class UserPatch(Strict):
    role: Role | None = None
    team: SingleLine | None = Field(None, max_length=80,
                                    description="Empty string clears it.")
    active: StrictBool | None = None


class NewUserOut(BaseModel):
    user: admin.UserView
    initial_password: str = Field(description="Shown once. The user should change it "
                                  "(or use password reset).")


class KeyIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=200)
    scopes: list[Scope] | None = Field(None, description="Limit the key; default: "
                                       "everything your role may do. A key asking may "
                                       "only create keys within its own scopes.")


class SsoIn(Strict):
    issuer: SingleLine = Field(min_length=8, max_length=500)
    client_id: SingleLine = Field(min_length=1, max_length=200)
    client_secret: SingleLine = Field(min_length=1, max_length=500)


class SettingsPatch(Strict):
    mfa_required_roles: list[Role] | None = None
    template_approval_required: StrictBool | None = None
    sso: SsoIn | None = None
    reminder_interval_hours: StrictInt | None = Field(
        None, ge=0, le=720, description="Remind a recipient whose turn it is every N hours "
        "until they act (default 48; 0 = off). An envelope's own interval wins.")
    expiry_warning_days: StrictInt | None = Field(
        None, ge=0, le=30, description="Email the recipients whose turn it is, and the "
        "sender, N days before an envelope expires (default 3; 0 = off).")
    time_zone: SingleLine | None = Field(
        None, max_length=64, description="The organisation's IANA time zone (default UTC): "
        "contract renewal windows are whole days in it.")
    renewal_windows: list[StrictInt] | None = Field(
        None, max_length=12, description="Renewal notice windows, days before a contract's "
        "end (default [120, 90, 60]; a contract's own windows win).")
    renewal_opt_out_warning_days: StrictInt | None = Field(
        None, ge=0, le=365, description="Warn N days before an auto-renewing contract's "
        "opt-out notice date (default 30; 0 = off).")
    renewal_addendum_days: StrictInt | None = Field(
        None, ge=0, le=3660, description="Draft the renewal addendum N days before a "
        "contract's end (default 60; 0 = never).")
    renewal_template: SingleLine | None = Field(
        None, max_length=80, description="Key of the published template renewal addenda "
        "are drafted from (empty: none).")
    renewal_addendum_mode: Literal["confirm", "auto"] | None = Field(
        None, description="confirm: the addendum is a draft the owner reviews and sends "
        "(default); auto: it is sent at once.")
    retention_policies: dict[SingleLine, SingleLine] | None = Field(
        None, max_length=20, description="Contract type -> retention policy (standard, "
        "hipaa, transactional, audit_log); types not named are standard. A template's "
        "own policy wins; compliance may override one contract's.")


class MeOut(BaseModel):
    user_id: str
    org_id: str
    email: str
    name: str
    role: str
    team: str | None
    scopes: list[str] | None


@router.get("/me", response_model=MeOut, responses=ERRORS, summary="Who this API key is")
def me(principal: ApiPrincipal) -> MeOut:
    return MeOut(user_id=principal.user_id, org_id=principal.org_id, email=principal.email,
                 name=principal.name, role=principal.role, team=principal.team,
                 scopes=sorted(principal.scopes) if principal.scopes is not None else None)


@router.get("/users", response_model=list[admin.UserView], responses=ERRORS,
            summary="List the organisation's users (admin)")
def list_users(rt: Rt, principal: CanManageUsers) -> list[admin.UserView]:
    return admin.list_users(rt, principal)


@router.post("/users", status_code=201, response_model=NewUserOut, responses=ERRORS,
             summary="Add a user (admin)")
def add_user(body: UserIn, rt: Rt, principal: CanManageUsers) -> NewUserOut:
    user, password = admin.add_user(rt, principal, email=body.email, name=body.name,
                                    role=body.role.value, team=body.team)
    return NewUserOut(user=user, initial_password=password)


@router.patch("/users/{user_id}", response_model=admin.UserView, responses=ERRORS,
              summary="Change a user's role, team or active flag (admin); takes effect at once")
def update_user(user_id: str, body: UserPatch, rt: Rt,
                principal: CanManageUsers) -> admin.UserView:
    return admin.update_user(rt, principal, user_id,
                             role=body.role.value if body.role else None, team=body.team,
                             active=body.active)


@router.get("/api-keys", response_model=list[admin.ApiKeyView], responses=KEY_ERRORS,
            summary="API keys: your own (admins: everyone's), none broader than the "
            "calling key; needs the api-keys:manage scope")
def list_keys(rt: Rt, principal: CanManageKeys) -> list[admin.ApiKeyView]:
    return admin.list_keys(rt, principal)


@router.post("/api-keys", status_code=201, response_model=admin.NewApiKey,
             responses=KEY_ERRORS, summary="Create an API key for yourself (shown once), "
             "within the calling key's scopes; needs the api-keys:manage scope")
def new_key(body: KeyIn, rt: Rt, principal: CanManageKeys) -> admin.NewApiKey:
    return admin.new_key(rt, principal, name=body.name,
                         scopes=[s.value for s in body.scopes] if body.scopes else None)


@router.post("/api-keys/{key_id}/revoke", response_model=admin.ApiKeyView,
             responses=KEY_ERRORS,
             summary="Revoke an API key (yours; admins: any) not broader than the calling "
             "key; needs the api-keys:manage scope; effective immediately")
def revoke_key(key_id: str, rt: Rt, principal: CanManageKeys) -> admin.ApiKeyView:
    return admin.revoke_key(rt, principal, key_id)


@router.get("/organisation/settings", response_model=admin.OrgSettings, responses=ERRORS,
            summary="Organisation settings (admin)")
def get_settings(rt: Rt, principal: CanManageSettings) -> admin.OrgSettings:
    return admin.get_settings(rt, principal)


@router.patch("/organisation/settings", response_model=admin.OrgSettings, responses=ERRORS,
              summary="Change MFA roles, template approval, single sign-on, reminders or the "
              "expiry warning (admin)")
def update_settings(body: SettingsPatch, rt: Rt, principal: CanManageSettings) -> admin.OrgSettings:
    return admin.update_settings(
        rt, principal,
        mfa_required_roles=[r.value for r in body.mfa_required_roles]
        if body.mfa_required_roles is not None else None,
        template_approval_required=body.template_approval_required,
        sso=body.sso.model_dump() if body.sso else None,
        reminder_interval_hours=body.reminder_interval_hours,
        expiry_warning_days=body.expiry_warning_days, time_zone=body.time_zone,
        renewal_windows=body.renewal_windows,
        renewal_opt_out_warning_days=body.renewal_opt_out_warning_days,
        renewal_addendum_days=body.renewal_addendum_days,
        renewal_template=body.renewal_template,
        renewal_addendum_mode=body.renewal_addendum_mode,
        retention_policies=body.retention_policies)
