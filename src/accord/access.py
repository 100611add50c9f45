"""The access vocabulary every feature speaks: roles, permissions, API-key scopes, who is
calling (``Principal``) and who may see which envelope. Pure rules: no database, no web.
The README's permission matrix is generated from ``MATRIX``.

Infrastructure, below ``web`` and every feature: the rules live here; checking who a
caller is (API keys, console sessions: accounts' tables) stays in ``accounts``, which
``app.create_app`` installs behind ``web.deps.Authenticator``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from accord.errors import Forbidden

if TYPE_CHECKING:
    from sqlalchemy import Connection


class Role(StrEnum):
    ADMIN = "admin"
    LEGAL = "legal"
    MANAGER = "manager"
    AGENT = "agent"
    COMPLIANCE = "compliance"


class Permission(StrEnum):
    ENVELOPE_SEND = "envelope:send"  # create, send, void envelopes
    ENVELOPE_READ = "envelope:read"  # read envelopes (which ones: see visibility below)
    ENVELOPE_VOID = "envelope:void"
    AUDIT_READ = "audit:read"  # audit trails of the envelopes one can read
    MAILBOX_READ = "mailbox:read"  # the local mailbox and SMS sink (they hold live links)
    TEMPLATE_READ = "template:read"  # published templates and clauses
    TEMPLATE_USE = "template:use"  # create envelopes from published templates
    TEMPLATE_AUTHOR = "template:author"  # drafts of templates and clauses, review
    TEMPLATE_PUBLISH = "template:publish"  # approve, publish, retire
    DASHBOARD_READ = "dashboard:read"  # team statistics
    API_KEYS_MANAGE = "api-keys:manage"  # list, create, revoke one's own API keys
    USERS_MANAGE = "users:manage"  # users, every API key (with api-keys:manage)
    SETTINGS_MANAGE = "settings:manage"  # organisation settings: MFA, SSO, approval
    OUTBOX_MANAGE = "outbox:manage"  # the organisation's outbox: dead messages, replay
    CONTRACT_READ = "contract:read"  # contract records, their documents and trails
    CONTRACT_MANAGE = "contract:manage"  # edit, import, link, terminate contract records
    CONTRACT_RETENTION = "contract:retention"  # override a contract's retention policy
    CONTRACT_DISPOSITION = "contract:disposition"  # the disposition review (what is due)
    CONTRACT_HOLD = "contract:hold"  # place and lift legal holds


class Scope(StrEnum):
    """What an API key may be limited to (within its owner's role)."""

    ENVELOPES_READ = "envelopes:read"
    ENVELOPES_WRITE = "envelopes:write"
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"
    AUDIT_READ = "audit:read"
    API_KEYS_MANAGE = "api-keys:manage"
    CONTRACTS_READ = "contracts:read"
    CONTRACTS_WRITE = "contracts:write"
    ADMIN = "admin"


SCOPE_OF: dict[Permission, Scope] = {
    Permission.ENVELOPE_SEND: Scope.ENVELOPES_WRITE,
    Permission.ENVELOPE_VOID: Scope.ENVELOPES_WRITE,
    Permission.TEMPLATE_USE: Scope.ENVELOPES_WRITE,
    Permission.ENVELOPE_READ: Scope.ENVELOPES_READ,
    Permission.DASHBOARD_READ: Scope.ENVELOPES_READ,
    Permission.MAILBOX_READ: Scope.ADMIN,
    Permission.AUDIT_READ: Scope.AUDIT_READ,
    Permission.TEMPLATE_READ: Scope.TEMPLATES_READ,
    Permission.TEMPLATE_AUTHOR: Scope.TEMPLATES_WRITE,
    Permission.TEMPLATE_PUBLISH: Scope.TEMPLATES_WRITE,
    Permission.API_KEYS_MANAGE: Scope.API_KEYS_MANAGE,
    Permission.USERS_MANAGE: Scope.ADMIN,
    Permission.SETTINGS_MANAGE: Scope.ADMIN,
    Permission.OUTBOX_MANAGE: Scope.ADMIN,
    Permission.CONTRACT_READ: Scope.CONTRACTS_READ,
    Permission.CONTRACT_MANAGE: Scope.CONTRACTS_WRITE,
    Permission.CONTRACT_RETENTION: Scope.CONTRACTS_WRITE,
    Permission.CONTRACT_DISPOSITION: Scope.CONTRACTS_READ,
    Permission.CONTRACT_HOLD: Scope.CONTRACTS_WRITE,
}

P = Permission
# the mailbox and SMS sink (live signing links, one-time codes of every envelope) are
# admin-only: their messages carry no envelope, so no finer rule can filter them
_SENDER = {P.ENVELOPE_SEND, P.ENVELOPE_READ, P.ENVELOPE_VOID, P.AUDIT_READ,
           P.TEMPLATE_READ, P.TEMPLATE_USE, P.API_KEYS_MANAGE, P.CONTRACT_READ}

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.LEGAL: frozenset(_SENDER | {P.TEMPLATE_AUTHOR, P.TEMPLATE_PUBLISH,
                                     P.CONTRACT_READ, P.CONTRACT_MANAGE,
                                     P.CONTRACT_DISPOSITION}),
    Role.MANAGER: frozenset(_SENDER | {P.DASHBOARD_READ, P.CONTRACT_READ, P.CONTRACT_MANAGE}),
    Role.AGENT: frozenset(_SENDER | {P.CONTRACT_READ}),
    Role.COMPLIANCE: frozenset({P.ENVELOPE_READ, P.AUDIT_READ, P.TEMPLATE_READ,
                                P.API_KEYS_MANAGE, P.CONTRACT_READ, P.CONTRACT_RETENTION,
                                P.CONTRACT_DISPOSITION, P.CONTRACT_HOLD}),
}


def allowed(role: str, permission: Permission,
            scopes: frozenset[str] | None = None) -> bool:
    """The role grants ``permission`` and, for an API key, one of its scopes covers it."""
    try:
        granted = permission in MATRIX[Role(role)]
    except ValueError:
        return False
    if not granted or scopes is None or "*" in scopes:
        return granted
    return SCOPE_OF[permission].value in scopes


def scopes_for(role: str) -> list[str]:
    """Every scope that means something for ``role``."""
    try:
        perms = MATRIX[Role(role)]
    except ValueError:
        return []
    return sorted({SCOPE_OF[p].value for p in perms})


def effective_scopes(role: str, scopes: frozenset[str] | None) -> frozenset[str]:
    """What a key of a ``role`` user with ``scopes`` may really do: ``"*"`` (or a console
    session, None) is every scope of the role; a listed scope beyond the role is nothing."""
    mine = frozenset(scopes_for(role))
    if scopes is None or "*" in scopes:
        return mine
    return frozenset(scopes) & mine


def key_within(key_role: str, key_scopes: frozenset[str], caller_role: str,
               caller_scopes: frozenset[str] | None) -> bool:
    """A key (of an owner with ``key_role``) is not broader than the caller: a console
    session (``caller_scopes`` None) keeps its role's full powers; an API key may only
    see, create or revoke keys whose scopes are a subset of its own."""
    if caller_scopes is None:
        return True
    return effective_scopes(key_role, key_scopes) <= effective_scopes(caller_role,
                                                                       caller_scopes)


@dataclass(frozen=True)
class Principal:
    """Who is calling: always inside exactly one organisation."""

    org_id: str
    user_id: str
    role: str
    email: str
    name: str
    team: str | None = None
    scopes: frozenset[str] | None = None  # set for API keys; None for console sessions

    def can(self, permission: Permission) -> bool:
        return allowed(self.role, permission, self.scopes)

    def require(self, permission: Permission) -> None:
        if not allowed(self.role, permission):
            raise Forbidden(f"the {self.role} role may not do this ({permission})",
                            code="forbidden")
        if not allowed(self.role, permission, self.scopes):
            raise Forbidden(f"this API key's scopes do not allow {permission}",
                            code="scope_missing")


class Credential(Protocol):
    """Credentials not checked yet: a read that takes them checks them in its own
    transaction (``Database.read``), so that authenticating costs no transaction of its
    own."""

    def principal(self, conn: Connection) -> Principal: ...


def principal_in(conn: Connection, who: Principal | Credential) -> Principal:
    """``who`` itself, or the principal its credentials name (checked on ``conn``)."""
    return who if isinstance(who, Principal) else who.principal(conn)


class Access(StrEnum):
    FULL = "full"  # documents, fields, audit trail
    STATUS = "status"  # subject, status and dates only (in lists)


def envelope_access(*, role: str, user_id: str, team: str | None, created_by: str | None,
                    envelope_team: str | None) -> Access | None:
    """How much of one envelope (of the same organisation) a user may see.

    Admins and compliance see every envelope; managers see their team's in full; agents
    and legal see their own in full and their team's status."""
    if role in (Role.ADMIN, Role.COMPLIANCE):
        return Access.FULL
    if created_by == user_id:
        return Access.FULL
    same_team = team is not None and team == envelope_team
    if role == Role.MANAGER and same_team:
        return Access.FULL
    if role in (Role.AGENT, Role.LEGAL) and same_team:
        return Access.STATUS
    return None


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (the README embeds exactly this)."""
    roles = list(Role)
    lines = ["| permission | API-key scope | " + " | ".join(r.value for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for p in Permission:
        marks = " | ".join("yes" if p in MATRIX[r] else "—" for r in roles)
        lines.append(f"| `{p.value}` | `{SCOPE_OF[p].value}` | {marks} |")
    return "\n".join(lines)
