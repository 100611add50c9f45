"""Console forms for a recipient's lifecycle on the envelope page: resend, correct,
reassign, remind now, and the envelope's reminder interval (void is in ``pages``).

Thin, like every pages module: check the session and the CSRF token, parse the form,
call one service, go back to the envelope page with a notice. Input errors (422) and
state conflicts (409) come back on the envelope page itself with the message; other
errors go to the app's error page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from accord.envelopes import lifecycle, services
from accord.errors import AccordError, Conflict, InvalidInput
from accord.web.console import ConsoleUser
from accord.web.deps import Rt, client_ip, user_agent

router = APIRouter(prefix="/console", include_in_schema=False)

NOTICES = {
    "resent": "A new link was sent; the previous one no longer works.",
    "reminded": "A reminder with the recipient's current link is on its way.",
    "corrected": "Saved. A changed email or phone gets a new link; the old one died.",
    "reassigned": "The part now belongs to the new person; the old link died.",
    "reminders": "Reminder interval saved.",
}


def _actor(request: Request, console: ConsoleUser) -> services.Actor:
    return services.staff_actor(console.principal, client_ip(request), user_agent(request))


def _done(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str, notice: str,
          action: Callable[[], Any]) -> HTMLResponse | RedirectResponse:
    from accord.envelopes.pages import detail_page

    try:
        action()
    except (InvalidInput, Conflict) as exc:
        return detail_page(request, rt, console, envelope_id, error=exc,
                           status_code=exc.status)
    except AccordError:
        raise
    return RedirectResponse(f"/console/envelopes/{envelope_id}?notice={notice}",
                            status_code=303)


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/resend",
             response_model=None)
def resend(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str,
           recipient_id: str, csrf_token: Annotated[str, Form()] = "",
           ) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    return _done(request, rt, console, envelope_id, "resent", lambda: services.resend(
        rt, console.principal, envelope_id, recipient_id, actor=_actor(request, console)))


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/remind",
             response_model=None)
def remind(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str,
           recipient_id: str, csrf_token: Annotated[str, Form()] = "",
           ) -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    return _done(request, rt, console, envelope_id, "reminded", lambda: lifecycle.remind(
        rt, console.principal, envelope_id, recipient_id, actor=_actor(request, console)))


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/correct",
             response_model=None)
def correct(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str,
            recipient_id: str, *, csrf_token: Annotated[str, Form()] = "",
            name: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
            phone: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    """Blank fields are left as they are."""
    console.check_csrf(csrf_token)
    return _done(request, rt, console, envelope_id, "corrected", lambda: services.correct(
        rt, console.principal, envelope_id, recipient_id, name=name.strip() or None,
        email=email.strip() or None, phone=phone.strip() or None,
        actor=_actor(request, console)))


@router.post("/envelopes/{envelope_id}/recipients/{recipient_id}/reassign",
             response_model=None)
def reassign(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str,
             recipient_id: str, *, csrf_token: Annotated[str, Form()] = "",
             name: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
             phone: Annotated[str, Form()] = "",
             access_code: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    console.check_csrf(csrf_token)
    return _done(request, rt, console, envelope_id, "reassigned", lambda: lifecycle.reassign(
        rt, console.principal, envelope_id, recipient_id, name=name, email=email,
        phone=phone.strip() or None, access_code=access_code or None,
        actor=_actor(request, console)))


@router.post("/envelopes/{envelope_id}/reminders", response_model=None)
def reminders(request: Request, rt: Rt, console: ConsoleUser, envelope_id: str, *,
              csrf_token: Annotated[str, Form()] = "",
              interval_hours: Annotated[str, Form()] = "",
              ) -> HTMLResponse | RedirectResponse:
    """``interval_hours`` blank: follow the organisation's interval."""
    console.check_csrf(csrf_token)
    text = interval_hours.strip()

    def save() -> object:
        if text and not text.isdigit():
            raise InvalidInput("Enter the hours between reminders as a whole number (0 for "
                               "none), or leave it blank for the organisation's interval.",
                               code="invalid_reminder_interval")
        return lifecycle.set_reminders(rt, console.principal, envelope_id,
                                       int(text) if text else None,
                                       actor=_actor(request, console))

    return _done(request, rt, console, envelope_id, "reminders", save)
