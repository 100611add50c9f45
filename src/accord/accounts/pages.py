"""Console sign-in pages (/login, /logout) and the console helpers every page shares.

Thin, like every pages module: parse the form, call one service, render or redirect.
``ConsoleUser`` is the dependency the other console pages use: the logged-in user, their
session's CSRF token and the organisation's name for the page header.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from accord.accounts import services
from accord.accounts.domain import Permission, allowed
from accord.accounts.services import Principal
from accord.errors import Forbidden, Unauthorized
from accord.web.deps import SESSION_COOKIE, Rt, console_principal, cookie_name
from accord.web.templating import render

router = APIRouter(include_in_schema=False)

HOME = "/console"
# A same-origin path: one "/" then anything but a second "/" or "\" (both would make the
# browser treat it as a host), and no whitespace or control characters anywhere.
_SAFE_NEXT = re.compile(r"^/(?![/\\])[^\s\\\x00-\x1f\x7f]*$")


@dataclass(frozen=True)
class Console:
    """What every console page knows about the request: who, their CSRF token, where."""

    principal: Principal
    csrf_token: str
    org_name: str

    def context(self, nav: str = "") -> dict[str, Any]:
        """Template variables for ``base.html``'s header and navigation."""
        role = self.principal.role
        can = {"send": allowed(role, Permission.ENVELOPE_SEND),
               "void": allowed(role, Permission.ENVELOPE_VOID),
               "mailbox": allowed(role, Permission.MAILBOX_READ)}
        return {"user": self.principal, "csrf_token": self.csrf_token,
                "org_name": self.org_name, "nav": nav, "can": can}

    def check_csrf(self, submitted: str) -> None:
        """Refuse a form whose hidden ``csrf_token`` is not this session's (403)."""
        if not submitted or not secrets.compare_digest(submitted.encode(),
                                                       self.csrf_token.encode()):
            raise Forbidden("This form did not come from your current Accord session "
                            "(missing or wrong security token). Reload the page and try "
                            "again.", code="csrf_failed")


def console_user(request: Request, rt: Rt) -> Console:
    """The logged-in console user (Unauthorized sends HTML clients to /login)."""
    principal, csrf = console_principal(request, rt)
    return Console(principal, csrf, services.organisation_name(rt, principal.org_id))


ConsoleUser = Annotated[Console, Depends(console_user)]


def safe_next(value: str | None) -> str:
    """``value`` when it is a same-origin relative path, else the console's home."""
    if value and len(value) <= 2000 and _SAFE_NEXT.match(value):
        return value
    return HOME


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next_: Annotated[str, Query(alias="next")] = "") -> HTMLResponse:
    return render(request, "console/login.html", next=safe_next(next_), email="", error=None)


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(request: Request, rt: Rt, email: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "",
          next_: Annotated[str, Form(alias="next")] = "") -> HTMLResponse | RedirectResponse:
    target = safe_next(next_)
    try:
        session = services.login(rt, email, password)
    except Unauthorized:
        return render(request, "console/login.html", status_code=401, next=target,
                      email=email, error="Wrong email or password.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(cookie_name(rt, SESSION_COOKIE), session.token,
                        max_age=rt.settings.session_hours * 3600, path="/",
                        secure=rt.settings.secure_cookies, httponly=True, samesite="lax")
    return response


@router.post("/logout")
def logout(request: Request, rt: Rt, console: ConsoleUser,
           csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    console.check_csrf(csrf_token)
    name = cookie_name(rt, SESSION_COOKIE)
    services.logout(rt, request.cookies.get(name, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(name, path="/", secure=rt.settings.secure_cookies, httponly=True,
                           samesite="lax")
    return response
