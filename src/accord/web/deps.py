"""Request-level helpers shared by every feature's api.py and pages.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from accord.accounts.services import Principal, authenticate_api_key, session_principal
from accord.errors import Unauthorized
from accord.runtime import Runtime

SESSION_COOKIE = "accord_session"
SIGNER_COOKIE = "accord_signer"


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def cookie_name(rt: Runtime, base: str) -> str:
    """``__Host-`` cookies need HTTPS; plain-HTTP local instances use the bare name."""
    return f"__Host-{base}" if rt.settings.secure_cookies else base


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    ua = request.headers.get("user-agent")
    return ua[:500] if ua else None


def api_principal(request: Request,
                  rt: Annotated[Runtime, Depends(runtime)]) -> Principal:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'",
                           code="missing_api_key")
    return authenticate_api_key(rt, token.strip())


def console_principal(request: Request, rt: Runtime) -> tuple[Principal, str]:
    """The logged-in console user and their CSRF token (raises Unauthorized)."""
    token = request.cookies.get(cookie_name(rt, SESSION_COOKIE))
    if not token:
        raise Unauthorized("please log in", code="not_logged_in")
    return session_principal(rt, token)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]
Rt = Annotated[Runtime, Depends(runtime)]
