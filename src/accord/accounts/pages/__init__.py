"""Console sign-in pages (/login, /logout, second factor, SSO, password reset).

Thin, like every pages module: parse the form, call one service, render or redirect.
The console helpers every page shares (``ConsoleUser``, the CSRF check) are in
``accord.web.console``.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from accord.accounts import login as login_service
from accord.accounts import oidc, services
from accord.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from accord.runtime import Runtime
from accord.web.console import ConsoleUser, check_csrf
from accord.web.deps import SESSION_COOKIE, Rt, cookie_name
from accord.web.templating import render

router = APIRouter(include_in_schema=False)

HOME = "/console"
# A same-origin path: one "/" then anything but a second "/" or "\" (both would make the
# browser treat it as a host), and no whitespace or control characters anywhere.
_SAFE_NEXT = re.compile(r"^/(?![/\\])[^\s\\\x00-\x1f\x7f]*$")


def safe_next(value: str | None) -> str:
    """``value`` when it is a same-origin relative path, else the console's home."""
    if value and len(value) <= 2000 and _SAFE_NEXT.match(value):
        return value
    return HOME


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


LOGIN_CSRF = "accord_login_csrf"


def _login_csrf(request: Request) -> str:
    """Double-submit CSRF token for the forms shown before a session exists."""
    return request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(32)


def _check_login_csrf(request: Request, submitted: str) -> None:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not submitted or not secrets.compare_digest(cookie.encode(),
                                                                 submitted.encode()):
        raise Forbidden("This form expired or did not come from Accord. Reload the page "
                        "and try again.", code="csrf_failed")


def _form(request: Request, template: str, status_code: int = 200,
          **ctx: Any) -> HTMLResponse:
    token = _login_csrf(request)
    response = render(request, template, status_code=status_code, csrf_token=token, **ctx)
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/",
                        max_age=3600)
    return response


def _session_cookie(rt: Runtime, response: Response, token: str) -> None:
    response.set_cookie(cookie_name(rt, SESSION_COOKIE), token,
                        max_age=rt.settings.session_hours * 3600, path="/",
                        secure=rt.settings.secure_cookies, httponly=True, samesite="lax")


def _after_password(stage: str, target: str) -> str:
    if stage == "mfa":
        return f"/login/mfa?next={quote(target)}"
    if stage == "enrol":
        return f"/account/mfa/setup?next={quote(target)}"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next_: Annotated[str, Query(alias="next")] = "",
               notice: str = "") -> HTMLResponse:
    return _form(request, "console/login.html", next=safe_next(next_), email="", error=None,
                 notice={"reset": "Your password was changed. Log in with the new one."}
                 .get(notice))


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(request: Request, rt: Rt, email: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "",
          next_: Annotated[str, Form(alias="next")] = "",
          csrf_token: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    target = safe_next(next_)
    _check_login_csrf(request, csrf_token)
    try:
        session, stage = login_service.login(rt, email, password)
    except login_service.TooManyAttempts as exc:
        response = _form(request, "console/login.html", status_code=429, next=target,
                         email=email, error=exc.message[0].upper() + exc.message[1:] + ".")
        response.headers["Retry-After"] = str((exc.details or {}).get("retry_after", 900))
        return response
    except Unauthorized:
        return _form(request, "console/login.html", status_code=401, next=target,
                     email=email, error="Wrong email or password.")
    redirect = RedirectResponse(_after_password(stage, target), status_code=303)
    _session_cookie(rt, redirect, session.token)
    return redirect


SSO_COOKIE = "accord_sso"


@router.get("/login/sso")
def sso_start(request: Request, rt: Rt, org: str = "",
              next_: Annotated[str, Query(alias="next")] = "") -> Response:
    """Send the browser to the organisation's identity provider."""
    try:
        url, state = oidc.begin(rt, org.strip().lower(), safe_next(next_))
    except (NotFound, Unauthorized) as exc:
        return _form(request, "console/login.html", status_code=exc.status,
                     next=safe_next(next_), email="", error=exc.message[0].upper()
                     + exc.message[1:] + ".")
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(SSO_COOKIE, state, httponly=True, samesite="lax", path="/login/sso",
                        max_age=oidc.STATE_SECONDS, secure=rt.settings.secure_cookies)
    return response


@router.get("/login/sso/callback")
def sso_callback(request: Request, rt: Rt, code: str = "", state: str = "") -> Response:
    try:
        session, stage, target = oidc.complete(rt, request.cookies.get(SSO_COOKIE, ""),
                                               code=code, state=state)
    except Unauthorized as exc:
        return _form(request, "console/login.html", status_code=401, next=HOME, email="",
                     error=exc.message[0].upper() + exc.message[1:] + ".")
    response = RedirectResponse(_after_password(stage, safe_next(target)), status_code=303)
    _session_cookie(rt, response, session.token)
    response.delete_cookie(SSO_COOKIE, path="/login/sso")
    return response


def _pending(request: Request, rt: Runtime) -> tuple[str, str, str]:
    """(session token, stage, csrf) of the browser's session, full or not."""
    token = request.cookies.get(cookie_name(rt, SESSION_COOKIE), "")
    stage, csrf = login_service.session_state(rt, token)
    return token, stage, csrf


@router.get("/login/mfa", response_class=HTMLResponse, response_model=None)
def mfa_form(request: Request, rt: Rt,
             next_: Annotated[str, Query(alias="next")] = "") -> Response:
    _token, stage, csrf = _pending(request, rt)
    if stage != "mfa":
        return RedirectResponse(safe_next(next_), status_code=303)
    return render(request, "console/mfa.html", csrf_token=csrf, next=safe_next(next_),
                  error=None)


@router.post("/login/mfa", response_class=HTMLResponse, response_model=None)
def mfa_submit(request: Request, rt: Rt, code: Annotated[str, Form()] = "",
               csrf_token: Annotated[str, Form()] = "",
               next_: Annotated[str, Form(alias="next")] = "") -> Response:
    token, _stage, csrf = _pending(request, rt)
    check_csrf(csrf, csrf_token)
    try:
        login_service.verify_second_factor(rt, token, code)
    except (Unauthorized, login_service.TooManyAttempts) as exc:
        return render(request, "console/mfa.html", status_code=exc.status, csrf_token=csrf,
                      next=safe_next(next_), error=exc.message[0].upper() + exc.message[1:])
    return RedirectResponse(safe_next(next_), status_code=303)


def _qr(enrolment: login_service.Enrolment) -> Markup:
    # segno's SVG is generated by us from a URI we built: paths and numbers only
    return Markup(enrolment.qr_svg)  # noqa: S704


@router.get("/account/mfa/setup", response_class=HTMLResponse)
def mfa_setup(request: Request, rt: Rt,
              next_: Annotated[str, Query(alias="next")] = "") -> HTMLResponse:
    token, _stage, csrf = _pending(request, rt)
    enrolment = login_service.begin_enrolment(rt, token)
    return render(request, "console/mfa_setup.html", csrf_token=csrf, enrolment=enrolment,
                  qr=_qr(enrolment), next=safe_next(next_), error=None)


@router.post("/account/mfa/setup", response_class=HTMLResponse)
def mfa_setup_confirm(request: Request, rt: Rt, code: Annotated[str, Form()] = "",
                      csrf_token: Annotated[str, Form()] = "",
                      next_: Annotated[str, Form(alias="next")] = "") -> HTMLResponse:
    token, _stage, csrf = _pending(request, rt)
    check_csrf(csrf, csrf_token)
    try:
        codes = login_service.confirm_enrolment(rt, token, code)
    except InvalidInput as exc:
        enrolment = login_service.begin_enrolment(rt, token)
        return render(request, "console/mfa_setup.html", status_code=422, csrf_token=csrf,
                      enrolment=enrolment, qr=_qr(enrolment),
                      next=safe_next(next_), error=exc.message)
    return render(request, "console/mfa_codes.html", codes=codes, next=safe_next(next_))


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_form(request: Request) -> HTMLResponse:
    return _form(request, "console/password_forgot.html", sent=False)


@router.post("/password/forgot", response_class=HTMLResponse)
def forgot(request: Request, rt: Rt, email: Annotated[str, Form()] = "",
           csrf_token: Annotated[str, Form()] = "") -> HTMLResponse:
    _check_login_csrf(request, csrf_token)
    login_service.request_reset(rt, email)
    return _form(request, "console/password_forgot.html", sent=True)


RESET_COOKIE = "accord_reset"


@router.get("/password/reset/{token}")
def reset_link(token: str, request: Request, rt: Rt) -> Response:
    """Swap the emailed token for a cookie so it leaves the address bar (and referrers)."""
    login_service.check_reset(rt, token)
    response = RedirectResponse("/password/reset", status_code=303)
    response.set_cookie(RESET_COOKIE, token, httponly=True, samesite="strict",
                        path="/password", max_age=login_service.RESET_MINUTES * 60,
                        secure=rt.settings.secure_cookies)
    return response


@router.get("/password/reset", response_class=HTMLResponse)
def reset_form(request: Request, rt: Rt) -> HTMLResponse:
    login_service.check_reset(rt, request.cookies.get(RESET_COOKIE, ""))
    return _form(request, "console/password_reset.html", error=None)


@router.post("/password/reset", response_class=HTMLResponse, response_model=None)
def reset(request: Request, rt: Rt, password: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_login_csrf(request, csrf_token)
    try:
        login_service.complete_reset(rt, request.cookies.get(RESET_COOKIE, ""), password)
    except InvalidInput as exc:
        return _form(request, "console/password_reset.html", status_code=422,
                     error=exc.message)
    response = RedirectResponse("/login?notice=reset", status_code=303)
    response.delete_cookie(RESET_COOKIE, path="/password")
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
