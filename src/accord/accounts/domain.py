"""Roles and what they may do. Pure rules: no database, no web."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    LEGAL = "legal"
    MANAGER = "manager"
    AGENT = "agent"
    COMPLIANCE = "compliance"


class Permission(StrEnum):
    ENVELOPE_SEND = "envelope:send"
    ENVELOPE_READ = "envelope:read"
    ENVELOPE_VOID = "envelope:void"
    AUDIT_READ = "audit:read"
    MAILBOX_READ = "mailbox:read"
    USERS_MANAGE = "users:manage"


_SEND = {Permission.ENVELOPE_SEND, Permission.ENVELOPE_READ, Permission.ENVELOPE_VOID,
         Permission.AUDIT_READ, Permission.MAILBOX_READ}

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.LEGAL: frozenset(_SEND),
    Role.MANAGER: frozenset(_SEND),
    Role.AGENT: frozenset(_SEND),
    Role.COMPLIANCE: frozenset({Permission.ENVELOPE_READ, Permission.AUDIT_READ}),
}


def allowed(role: str, permission: Permission) -> bool:
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False
