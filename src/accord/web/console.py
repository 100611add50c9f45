"""The console plumbing every feature's pages share: who is logged in (``ConsoleUser``),
their session's CSRF token and the check of a form's token, and the template variables
of ``base.html``'s header and navigation.

The session itself is looked up by the installed ``deps.Authenticator`` (accounts'): this
module knows the access vocabulary, not the tables behind it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from accord.access import Permission, Principal, allowed
from accord.errors import Forbidden
from accord.web.deps import Rt, authenticator, console_principal


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
               "mailbox": allowed(role, Permission.MAILBOX_READ),
               "templates": allowed(role, Permission.TEMPLATE_READ),
               "dashboard": allowed(role, Permission.DASHBOARD_READ),
               "admin": allowed(role, Permission.USERS_MANAGE),
               "settings": allowed(role, Permission.SETTINGS_MANAGE),
               "contracts": allowed(role, Permission.CONTRACT_READ)}
        return {"user": self.principal, "csrf_token": self.csrf_token,
                "org_name": self.org_name, "nav": nav, "can": can}

    def check_csrf(self, submitted: str) -> None:
        """Refuse a form whose hidden ``csrf_token`` is not this session's (403)."""
        check_csrf(self.csrf_token, submitted)


def check_csrf(expected: str, submitted: str) -> None:
    """Refuse a console form whose ``csrf_token`` is not ``expected`` (403)."""
    if not submitted or not secrets.compare_digest(submitted.encode(), expected.encode()):
        raise Forbidden("This form did not come from your current Accord session "
                        "(missing or wrong security token). Reload the page and try "
                        "again.", code="csrf_failed")


def console_user(request: Request, rt: Rt) -> Console:
    """The logged-in console user (Unauthorized sends HTML clients to /login)."""
    principal, csrf = console_principal(request, rt)
    return Console(principal, csrf,
                   authenticator(request).organisation_name(rt, principal.org_id))


ConsoleUser = Annotated[Console, Depends(console_user)]
