"""Console pages for administration: users and organisation settings (admins) and API keys
(everyone: their own; admins see everyone's). The team dashboard is envelopes'
(``envelopes.pages.dashboard``).

Thin, like every pages module: check the session (and the CSRF token on POST), parse the
form, call the service, render. Input errors re-render the page with the message and what
the user typed (422); other domain errors go to the app's error page (403, 404, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from accord.access import Permission, Role, Scope, scopes_for
from accord.accounts.services import API_KEY_PREFIX, admin
from accord.errors import AccordError, Conflict, InvalidInput
from accord.web.console import ConsoleUser
from accord.web.deps import Rt
from accord.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

ROLES = [r.value for r in Role]
ROLE_HELP = {
    Role.ADMIN.value: "everything, including users, API keys and settings",
    Role.LEGAL.value: "sends envelopes; authors, approves and publishes templates",
    Role.MANAGER.value: "sends envelopes; sees the team's envelopes and the dashboard",
    Role.AGENT.value: "sends envelopes; sees their own and the team's status",
    Role.COMPLIANCE.value: "reads every envelope and audit trail; sends nothing",
}
SCOPE_HELP = {
    Scope.ENVELOPES_READ.value: "read envelopes and team statistics",
    Scope.ENVELOPES_WRITE.value: "create, send and void envelopes",
    Scope.TEMPLATES_READ.value: "read published templates and clauses",
    Scope.TEMPLATES_WRITE.value: "author, approve and publish templates and clauses",
    Scope.AUDIT_READ.value: "read audit trails",
    Scope.API_KEYS_MANAGE.value: "list, create and revoke your API keys (never one broader "
                                 "than itself)",
    Scope.ADMIN.value: "manage users, everyone's API keys (with api-keys:manage) and "
                       "organisation settings",
}
NOTICES = {
    "updated": "Saved. A changed role or a deactivation ends that user's sessions at once.",
    "unchanged": "Nothing to save: the values were the same.",
    "revoked": "The key is revoked. Requests using it are refused from now on.",
    "saved": "Settings saved.",
}
SSO_CALLBACK = "/login/sso/callback"


def _input_error(exc: AccordError) -> bool:
    """Errors shown on the form itself (the rest go to the error page)."""
    return isinstance(exc, InvalidInput | Conflict)


def _sentence(message: str) -> str:
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def _flag(value: str) -> bool:
    return value.lower() in {"yes", "on", "true", "1"}


# -- users --------------------------------------------------------------------------------


@dataclass
class NewUserForm:
    email: str = ""
    name: str = ""
    role: str = Role.AGENT.value
    team: str = ""


@dataclass
class UserEdit:
    """What an admin typed into one user's edit form (kept to re-render after an error)."""

    user_id: str
    role: str
    team: str
    active: bool


@dataclass
class UsersPage:
    new: NewUserForm = field(default_factory=NewUserForm)
    edit: UserEdit | None = None
    error: str | None = None  # about ``new`` unless ``edit`` is set
    notice: str | None = None


def _users_page(request: Request, rt: Rt, console: ConsoleUser, page: UsersPage,
                status_code: int = 200) -> HTMLResponse:
    users = admin.list_users(rt, console.principal)
    teams = sorted({u.team for u in users if u.team})
    return render(request, "console/admin_users.html", status_code=status_code, users=users,
                  teams=teams, roles=ROLES, role_help=ROLE_HELP, page=page,
                  **console.context("admin"))


@router.get("/admin")
def admin_home(console: ConsoleUser) -> RedirectResponse:
    console.principal.require(Permission.USERS_MANAGE)
    return RedirectResponse("/console/admin/users", status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, rt: Rt, console: ConsoleUser,
          notice: Annotated[str, Query()] = "") -> HTMLResponse:
    return _users_page(request, rt, console, UsersPage(notice=NOTICES.get(notice)))


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, rt: Rt, console: ConsoleUser, *,
             csrf_token: Annotated[str, Form()] = "",
             email: Annotated[str, Form()] = "",
             name: Annotated[str, Form()] = "",
             role: Annotated[str, Form()] = "",
             team: Annotated[str, Form()] = "") -> HTMLResponse:
    console.check_csrf(csrf_token)
    form = NewUserForm(email=email.strip(), name=name.strip(), role=role, team=team.strip())
    try:
        if not form.name or len(form.name) > 200:
            raise InvalidInput("give the user's name (1-200 characters)", code="invalid_name")
        user, password = admin.add_user(rt, console.principal, email=form.email,
                                        name=form.name, role=form.role,
                                        team=form.team or None)
    except AccordError as exc:
        if not _input_error(exc):
            raise
        return _users_page(request, rt, console,
                           UsersPage(new=form, error=_sentence(exc.message)), 422)
    return render(request, "console/admin_user_added.html", added=user, password=password,
                  login_url=f"{rt.settings.base_url.rstrip('/')}/login",
                  **console.context("admin"))


@router.post("/admin/users/{user_id}", response_class=HTMLResponse, response_model=None)
def update_user(request: Request, rt: Rt, console: ConsoleUser, user_id: str, *,
                csrf_token: Annotated[str, Form()] = "",
                role: Annotated[str, Form()] = "",
                team: Annotated[str, Form()] = "",
                active: Annotated[str, Form()] = "",
                was_role: Annotated[str, Form()] = "",
                was_team: Annotated[str, Form()] = "",
                was_active: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    """Apply what the admin changed in the form (``was_*`` is what the form showed), so
    that saving a team does not also "change" the role and end the user's sessions."""
    console.check_csrf(csrf_token)
    edit = UserEdit(user_id, role, team.strip(), _flag(active))
    changes: dict[str, Any] = {}
    if role and role != was_role:
        changes["role"] = role
    if edit.team != was_team.strip():
        changes["team"] = edit.team
    if edit.active != _flag(was_active):
        changes["active"] = edit.active
    if not changes:
        return RedirectResponse("/console/admin/users?notice=unchanged", status_code=303)
    try:
        admin.update_user(rt, console.principal, user_id, **changes)
    except AccordError as exc:
        if not _input_error(exc):
            raise
        return _users_page(request, rt, console,
                           UsersPage(edit=edit, error=_sentence(exc.message)), 422)
    return RedirectResponse("/console/admin/users?notice=updated", status_code=303)


# -- API keys -----------------------------------------------------------------------------


@dataclass
class KeyForm:
    name: str = ""
    scopes: list[str] = field(default_factory=list)


def _keys_page(request: Request, rt: Rt, console: ConsoleUser, *,
               form: KeyForm | None = None, error: str | None = None,
               notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    p = console.principal
    keys = admin.list_keys(rt, p)
    # admins see everyone's keys: name their owners (a read of the same organisation)
    owners = ({u.id: u.email for u in admin.list_users(rt, p)}
              if p.can(Permission.USERS_MANAGE) else {})
    return render(request, "console/admin_keys.html", status_code=status_code, keys=keys,
                  owners=owners, form=form or KeyForm(), error=error, notice=notice,
                  scopes=scopes_for(p.role), scope_help=SCOPE_HELP, key_prefix=API_KEY_PREFIX,
                  **console.context("keys"))


@router.get("/account/keys", response_class=HTMLResponse)
def keys(request: Request, rt: Rt, console: ConsoleUser,
         notice: Annotated[str, Query()] = "") -> HTMLResponse:
    return _keys_page(request, rt, console, notice=NOTICES.get(notice))


@router.post("/account/keys", response_class=HTMLResponse)
def create_key(request: Request, rt: Rt, console: ConsoleUser, *,
               csrf_token: Annotated[str, Form()] = "",
               name: Annotated[str, Form()] = "",
               scope: Annotated[list[str], Form(default_factory=list)]) -> HTMLResponse:
    console.check_csrf(csrf_token)
    form = KeyForm(name=name.strip(), scopes=scope)
    try:
        if not form.scopes:
            raise InvalidInput("tick at least one scope: what the key may do",
                               code="no_scopes")
        created = admin.new_key(rt, console.principal, name=form.name, scopes=form.scopes)
    except AccordError as exc:
        if not _input_error(exc) and exc.code != "scope_not_allowed":
            raise
        return _keys_page(request, rt, console, form=form, error=_sentence(exc.message),
                          status_code=422)
    return render(request, "console/admin_key_created.html", created=created,
                  key_prefix=API_KEY_PREFIX,
                  api_url=f"{rt.settings.base_url.rstrip('/')}/api/v1/me",
                  **console.context("keys"))


@router.post("/account/keys/{key_id}/revoke")
def revoke_key(rt: Rt, console: ConsoleUser, key_id: str,
               csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    admin.revoke_key(rt, console.principal, key_id)
    return RedirectResponse("/console/account/keys?notice=revoked", status_code=303)


# -- organisation settings ----------------------------------------------------------------


@dataclass
class SettingsForm:
    mfa_required_roles: list[str]
    template_approval_required: bool
    sso_issuer: str
    sso_client_id: str
    reminder_interval_hours: str = "48"  # as typed, to re-render after an error
    expiry_warning_days: str = "3"

    @classmethod
    def of(cls, s: admin.OrgSettings) -> SettingsForm:
        return cls(list(s.mfa_required_roles), s.template_approval_required,
                   s.sso_issuer or "", s.sso_client_id or "",
                   str(s.reminder_interval_hours), str(s.expiry_warning_days))


def _whole(value: str, what: str) -> int:
    if not value.strip().isdigit():
        raise InvalidInput(f"{what} must be a whole number (0 to switch it off)",
                           code="invalid_number")
    return int(value.strip())


def _settings_page(request: Request, rt: Rt, console: ConsoleUser, form: SettingsForm, *,
                   sso_configured: bool, error: str | None = None,
                   notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "console/admin_settings.html", status_code=status_code, form=form,
                  roles=ROLES, sso_configured=sso_configured, error=error, notice=notice,
                  redirect_uri=rt.settings.base_url.rstrip("/") + SSO_CALLBACK,
                  **console.context("admin"))


def _sso_change(current: admin.OrgSettings, issuer: str, client_id: str,
                secret: str) -> dict[str, str] | None:
    """The single sign-on change to save, or None to keep what is stored. A blank secret
    keeps the stored one, which is only possible while the provider stays the same."""
    configured = current.sso_issuer is not None
    same = (issuer.rstrip("/"), client_id) == (current.sso_issuer or "",
                                                current.sso_client_id or "")
    if not secret:
        if same or not (configured or issuer or client_id):
            return None
        if not (issuer or client_id):
            raise InvalidInput("single sign-on cannot be switched off here; put the issuer "
                               "and client id back to keep it", code="sso_removal")
        if configured:
            raise InvalidInput("enter the client secret again when you change the issuer "
                               "or the client id", code="sso_secret_required")
        raise InvalidInput("single sign-on needs the issuer URL, the client id and the "
                           "client secret", code="invalid_oidc_config")
    return {"issuer": issuer, "client_id": client_id, "client_secret": secret}


@router.get("/admin/settings", response_class=HTMLResponse)
def settings(request: Request, rt: Rt, console: ConsoleUser,
             notice: Annotated[str, Query()] = "") -> HTMLResponse:
    current = admin.get_settings(rt, console.principal)
    return _settings_page(request, rt, console, SettingsForm.of(current),
                          sso_configured=current.sso_issuer is not None,
                          notice=NOTICES.get(notice))


@router.post("/admin/settings", response_class=HTMLResponse, response_model=None)
def save_settings(request: Request, rt: Rt, console: ConsoleUser, *,
                  csrf_token: Annotated[str, Form()] = "",
                  mfa_required_roles: Annotated[list[str], Form(default_factory=list)],
                  template_approval_required: Annotated[str, Form()] = "",
                  sso_issuer: Annotated[str, Form()] = "",
                  sso_client_id: Annotated[str, Form()] = "",
                  sso_client_secret: Annotated[str, Form()] = "",
                  reminder_interval_hours: Annotated[str, Form()] = "48",
                  expiry_warning_days: Annotated[str, Form()] = "3",
                  ) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    current = admin.get_settings(rt, console.principal)
    form = SettingsForm(mfa_required_roles, _flag(template_approval_required),
                        sso_issuer.strip(), sso_client_id.strip(),
                        reminder_interval_hours, expiry_warning_days)
    try:
        sso = _sso_change(current, form.sso_issuer, form.sso_client_id,
                          sso_client_secret.strip())
        admin.update_settings(rt, console.principal,
                              mfa_required_roles=form.mfa_required_roles,
                              template_approval_required=form.template_approval_required,
                              sso=sso,
                              reminder_interval_hours=_whole(reminder_interval_hours,
                                                             "The reminder interval"),
                              expiry_warning_days=_whole(expiry_warning_days,
                                                         "The expiry warning"))
    except AccordError as exc:
        if not _input_error(exc):
            raise
        return _settings_page(request, rt, console, form,
                              sso_configured=current.sso_issuer is not None,
                              error=_sentence(exc.message), status_code=422)
    return RedirectResponse("/console/admin/settings?notice=saved", status_code=303)
