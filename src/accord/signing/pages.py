"""The signer's pages: /s/{token} (link exchange), /sign (the ceremony) and page images,
and /sign/auth/* (one small form per authentication factor, before the consent page).

/sign/delegate hands the part to someone else when the sender allowed it.
Server-rendered and light: one small stylesheet and one small script (for drawing a
signature; typing one works without JavaScript). Codes and answers travel only in POST
bodies, never in URLs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from accord.errors import AccordError, Conflict, InvalidInput
from accord.runtime import Runtime
from accord.signing import auth, disclosure, otp, services
from accord.web.deps import SIGNER_COOKIE, Rt, client_ip, cookie_name, user_agent
from accord.web.templating import render

router = APIRouter(include_in_schema=False)


def _client(request: Request) -> services.Client:
    return services.Client(ip=client_ip(request), user_agent=user_agent(request))


def _token(request: Request, rt: Runtime) -> str | None:
    return request.cookies.get(cookie_name(rt, SIGNER_COOKIE))


@router.get("/s/{token}")
def open_link(token: str, request: Request, rt: Rt) -> Response:
    try:
        session_token = services.open_link(rt, token, _client(request))
    except AccordError as exc:
        return render(request, "signing/dead.html", status_code=404, error=exc)
    resp = RedirectResponse("/sign", status_code=303)
    resp.set_cookie(cookie_name(rt, SIGNER_COOKIE), session_token, httponly=True,
                    samesite="lax", secure=rt.settings.secure_cookies, path="/",
                    max_age=rt.settings.signer_session_hours * 3600)
    return resp


def _page(request: Request, rt: Runtime, *, error: AccordError | None = None,
          status: int = 200, form: dict[str, str] | None = None) -> Response:
    v = services.view(rt, _token(request, rt), _client(request))
    ctx: dict[str, Any] = {"v": v, "d": disclosure, "error": error, "form": form or {}}
    if v.finished:
        template, status = "signing/done.html", 200
    elif v.envelope_status != "sent":
        template, status = "signing/closed.html", 200
    elif not v.your_turn:
        template, status = "signing/not_your_turn.html", 200
    elif v.auth is not None and v.auth.locked:
        template, status = "signing/auth_locked.html", 403
    elif v.auth is not None:
        template = AUTH_TEMPLATES[v.auth.factor]
    elif not v.consented:
        template = "signing/consent.html"
    else:
        template = "signing/sign.html"
    return render(request, template, status_code=status, **ctx)


AUTH_TEMPLATES = {"email_otp": "signing/auth_code.html", "sms_otp": "signing/auth_code.html",
                  "access_code": "signing/auth_access_code.html",
                  "kba": "signing/auth_kba.html"}


@router.get("/sign")
def sign_page(request: Request, rt: Rt) -> Response:
    return _page(request, rt)


def _after_auth(request: Request, rt: Runtime, exc: AccordError | None) -> Response:
    """Back to /sign when the step worked (or was already done); else the same page with
    the error. Only errors of the step itself are shown; others go to the error page."""
    if exc is None or isinstance(exc, Conflict):
        return RedirectResponse("/sign", status_code=303)
    if isinstance(exc, auth.Locked):
        return _page(request, rt)
    return _page(request, rt, error=exc, status=exc.status)


@router.post("/sign/auth/send-code")
def send_code(request: Request, rt: Rt, csrf_token: Annotated[str, Form()] = "") -> Response:
    try:
        otp.request_code(rt, _token(request, rt), csrf_token, _client(request))
    except (otp.TooManyCodes, Conflict, auth.Locked) as exc:
        return _after_auth(request, rt, exc)
    return _after_auth(request, rt, None)


@router.post("/sign/auth/code")
def enter_code(request: Request, rt: Rt, csrf_token: Annotated[str, Form()] = "",
               code: Annotated[str, Form()] = "") -> Response:
    try:
        otp.verify_code(rt, _token(request, rt), csrf_token, code, _client(request))
    except (InvalidInput, Conflict, auth.Locked) as exc:
        return _after_auth(request, rt, exc)
    return _after_auth(request, rt, None)


@router.post("/sign/auth/access-code")
def enter_access_code(request: Request, rt: Rt, csrf_token: Annotated[str, Form()] = "",
                      access_code: Annotated[str, Form()] = "") -> Response:
    try:
        auth.verify_access_code(rt, _token(request, rt), csrf_token, access_code,
                                _client(request))
    except (InvalidInput, Conflict, auth.Locked) as exc:
        return _after_auth(request, rt, exc)
    return _after_auth(request, rt, None)


@router.post("/sign/auth/kba")
async def answer_questions(request: Request, rt: Rt) -> Response:
    form = await request.form()
    fields = {k: str(v)[:500] for k, v in form.items() if isinstance(v, str)}
    answers = [fields.get(f"answer_{i}", "") for i in range(5)]
    try:
        await run_in_threadpool(auth.verify_kba, rt, _token(request, rt),
                                fields.get("csrf_token"), answers, _client(request))
    except (InvalidInput, Conflict, auth.Locked) as exc:
        return await run_in_threadpool(_after_auth, request, rt, exc)
    return RedirectResponse("/sign", status_code=303)


@router.post("/sign/consent")
def consent(request: Request, rt: Rt, csrf_token: Annotated[str, Form()] = "",
            agree: Annotated[str, Form()] = "") -> Response:
    if agree != "yes":
        return _page(request, rt, status=422, error=InvalidInput(
            "tick the box to agree, or decline", code="consent_required"))
    services.consent(rt, _token(request, rt), csrf_token, _client(request))
    return RedirectResponse("/sign", status_code=303)


@router.post("/sign/finish")
async def finish(request: Request, rt: Rt) -> Response:
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    values = {k[len("field_"):]: v for k, v in fields.items() if k.startswith("field_")}
    kind = fields.get("signature_kind", "typed")
    sig = services.SignatureInput(kind=kind, text=fields.get("signature_text"),
                                  drawn=fields.get("signature_data"))
    try:
        # the form is read asynchronously; the (blocking) ceremony runs in the threadpool
        await run_in_threadpool(
            services.finish, rt, _token(request, rt), fields.get("csrf_token"), values=values,
            signature=sig, intent=fields.get("intent") == "yes", client=_client(request))
    except InvalidInput as exc:
        return await run_in_threadpool(_page, request, rt, error=exc, status=422, form=fields)
    return RedirectResponse("/sign", status_code=303)


@router.post("/sign/decline")
def decline(request: Request, rt: Rt, csrf_token: Annotated[str, Form()] = "",
            reason: Annotated[str, Form()] = "") -> Response:
    try:
        services.decline(rt, _token(request, rt), csrf_token, reason=reason,
                         client=_client(request))
    except InvalidInput as exc:
        return _page(request, rt, error=exc, status=422)
    return RedirectResponse("/sign", status_code=303)


@router.post("/sign/delegate")
def delegate(request: Request, rt: Rt, csrf_token: Annotated[str, Form()] = "",
             name: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
             phone: Annotated[str, Form()] = "",
             reason: Annotated[str, Form()] = "") -> Response:
    """Hand the part to someone else (when allowed); the session ends with it, so the
    confirmation is rendered here rather than at /sign."""
    from accord.signing.delegation import delegate as hand_on

    try:
        done = hand_on(rt, _token(request, rt), csrf_token, name=name, email=email,
                       phone=phone or None, reason=reason, client=_client(request))
    except InvalidInput as exc:
        return _page(request, rt, error=exc, status=422)
    return render(request, "signing/delegated.html", done=done, v=None)


@router.get("/sign/documents/{document_id}/pages/{page}.png")
def page_image(document_id: str, page: int, request: Request, rt: Rt) -> Response:
    png = services.page_png(rt, _token(request, rt), document_id, page)
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "private, no-store"})
