"""Request-level helpers shared by every feature's api.py and pages.py.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
the thread pool, one hop per dependency per request. Only the ones that reach the
database are plain functions."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from accord.access import Credential, Permission, Principal
from accord.errors import Unauthorized
from accord.runtime import Runtime

SESSION_COOKIE = "accord_session"
SIGNER_COOKIE = "accord_signer"


class Authenticator(Protocol):
    """Who a request's API key or session cookie names. The web layer only asks; the
    implementation (accounts', which owns the keys and sessions) is installed by the app
    factory as ``app.state.authenticator``: declared wiring, no import."""

    def credential(self, key: str) -> Credential:
        """The key as sent, checked later by the read that takes it (no I/O here)."""
        ...

    def api_key(self, rt: Runtime, key: str) -> Principal:
        """The key's owner, within its scopes (one read); Unauthorized if not valid."""
        ...

    def session(self, rt: Runtime, token: str) -> tuple[Principal, str]:
        """The user of a live console session and its CSRF token; Unauthorized if not."""
        ...

    def organisation_name(self, rt: Runtime, org_id: str) -> str: ...


async def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


def cookie_name(rt: Runtime, base: str) -> str:
    """``__Host-`` cookies need HTTPS; plain-HTTP local instances use the bare name."""
    return f"__Host-{base}" if rt.settings.secure_cookies else base


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    ua = request.headers.get("user-agent")
    return ua[:500] if ua else None


def _bearer(request: Request) -> str:
    """The API key the request carries (no I/O): 401 without one."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'",
                           code="missing_api_key")
    return token.strip()


async def api_credential(request: Request) -> Credential:
    """The API key the request carries, not checked yet (no I/O): 401 without one."""
    return authenticator(request).credential(_bearer(request))


def api_principal(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Principal:
    return authenticator(request).api_key(rt, _bearer(request))


def console_principal(request: Request, rt: Runtime) -> tuple[Principal, str]:
    """The logged-in console user and their CSRF token (raises Unauthorized)."""
    token = request.cookies.get(cookie_name(rt, SESSION_COOKIE))
    if not token:
        raise Unauthorized("please log in", code="not_logged_in")
    return authenticator(request).session(rt, token)


def requires(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the API caller, checked for ``permission`` (role and key scopes)
    before the request body is looked at, so a caller who may not do something gets 403
    whatever they send. Services check again (defence in depth)."""

    async def check(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        principal.require(permission)
        return principal

    return check


ApiPrincipal = Annotated[Principal, Depends(api_principal)]
# The API key, for a read whose service checks it in its own transaction (its permission
# check included): one transaction per request instead of one more to authenticate.
ApiCaller = Annotated[Credential, Depends(api_credential)]
Rt = Annotated[Runtime, Depends(runtime)]
P = Permission
CanSend = Annotated[Principal, Depends(requires(P.ENVELOPE_SEND))]
CanVoid = Annotated[Principal, Depends(requires(P.ENVELOPE_VOID))]
CanRead = Annotated[Principal, Depends(requires(P.ENVELOPE_READ))]
CanReadAudit = Annotated[Principal, Depends(requires(P.AUDIT_READ))]
CanReadDashboard = Annotated[Principal, Depends(requires(P.DASHBOARD_READ))]
CanReadTemplates = Annotated[Principal, Depends(requires(P.TEMPLATE_READ))]
CanUseTemplates = Annotated[Principal, Depends(requires(P.TEMPLATE_USE))]
CanAuthor = Annotated[Principal, Depends(requires(P.TEMPLATE_AUTHOR))]
CanPublish = Annotated[Principal, Depends(requires(P.TEMPLATE_PUBLISH))]
CanManageUsers = Annotated[Principal, Depends(requires(P.USERS_MANAGE))]
CanManageSettings = Annotated[Principal, Depends(requires(P.SETTINGS_MANAGE))]
