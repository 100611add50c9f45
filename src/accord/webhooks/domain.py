"""Pure rules of outbound webhooks (Standard Webhooks): event names, which audit tags
become which events, signing, the retry schedule, when an endpoint is disabled and which
URLs and addresses a webhook may reach.

Nothing here touches the database, the network or the clock: ``socket.inet_aton`` and
``ipaddress`` only parse strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

# -- events -------------------------------------------------------------------------------

EVENTS: dict[str, str] = {
    "envelope.sent": "an envelope was sent to its first recipients",
    "envelope.delivered": "a signing request of the envelope reached a recipient's mail "
                          "server (one per request; data.recipient_id says whose)",
    "envelope.completed": "every required recipient finished; the sealed PDF exists",
    "envelope.declined": "a recipient declined, which ends the envelope",
    "envelope.voided": "the sender voided the envelope",
    "envelope.expired": "the envelope passed its expiry date unfinished",
    "recipient.viewed": "a recipient opened the documents (first view after consent)",
    "recipient.signed": "a signer finished signing",
    "recipient.approved": "an approver finished approving",
    "recipient.declined": "a recipient declined",
    "recipient.delivery_failed": "a signing request could not be delivered (refused by the "
                                 "mail server, or retried for 72 hours); data.reason says why",
    "bulk_batch.finished": "every envelope of a bulk send batch was created or failed",
    "contract.filed": "a contract record was filed (from a completed envelope or an import)",
    "contract.renewed": "a completed renewal addendum renewed a contract (new end date)",
    "contract.renewal_due": "a contract's first renewal window opened (data.end_date, "
                            "data.days_left)",
    "contract.expired": "a contract passed its end date without renewal; it is flagged",
    "webhook.test": "a test event sent from the API, CLI or console (only to that endpoint)",
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENTS)

# audit tag (accord.audit.services.record) -> webhook event type
TAG_EVENTS: dict[str, str] = {
    "envelope:sent": "envelope.sent",
    "recipient:delivered": "envelope.delivered",
    "envelope:completed": "envelope.completed",
    "envelope:declined": "envelope.declined",
    "envelope:voided": "envelope.voided",
    "envelope:expired": "envelope.expired",
    "recipient:viewed": "recipient.viewed",
    "recipient:signed": "recipient.signed",
    "recipient:approved": "recipient.approved",
    "recipient:declined": "recipient.declined",
    "recipient:delivery_failed": "recipient.delivery_failed",
}
TEST_EVENT = "webhook.test"
_EVENT_NAME = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
MAX_EVENT_FILTERS = len(EVENT_TYPES)


class WebhookRuleError(ValueError):
    """Input that breaks a webhook rule; ``code`` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_event_type(event_type: str) -> str:
    if event_type not in EVENTS:
        raise WebhookRuleError("unknown_event_type", f"unknown event type {event_type!r}; "
                               f"known: {', '.join(EVENT_TYPES)}")
    return event_type


def normalise_filters(event_types: Iterable[str] | None) -> list[str]:
    """The endpoint's event filter: sorted known event names; empty means every event.

    ``webhook.test`` is never filtered (a test goes to the endpoint it names), so it may
    not be listed."""
    if event_types is None:
        return []
    out = sorted({check_event_type(e.strip()) for e in event_types if e.strip()})
    if TEST_EVENT in out:
        raise WebhookRuleError("unknown_event_type",
                               f"{TEST_EVENT} is always delivered to the endpoint tested; "
                               "it cannot be subscribed to")
    return out


def wants(filters: Sequence[str], event_type: str) -> bool:
    """Does an endpoint with these filters receive ``event_type``?"""
    return not filters or event_type in filters


def payload(event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The JSON body: ``{"type", "timestamp", "data"}`` (the Standard Webhooks shape)."""
    if not _EVENT_NAME.match(event_type):
        raise WebhookRuleError("unknown_event_type", f"bad event type {event_type!r}")
    return {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"),
            "data": data}


# -- signing ------------------------------------------------------------------------------

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)  # the previous secret still signs for this long


def format_secret(raw: bytes) -> str:
    """``whsec_`` + base64 of the key bytes, as the standardwebhooks libraries read it."""
    if len(raw) < 24 or len(raw) > 64:
        raise WebhookRuleError("invalid_secret", "a webhook secret is 24-64 bytes")
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def parse_secret(secret: str) -> bytes:
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRuleError("invalid_secret", "not a whsec_ base64 secret") from exc
    if len(raw) < 24 or len(raw) > 64:
        raise WebhookRuleError("invalid_secret", "a webhook secret is 24-64 bytes")
    return raw


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    mac = hmac.new(parse_secret(secret), f"{msg_id}.{timestamp}.{body}".encode(),
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secrets: Sequence[str], msg_id: str, timestamp: int,
                   body: str) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret, space-separated
    (during a secret rotation both the new and the previous secret sign)."""
    if not secrets:
        raise WebhookRuleError("invalid_secret", "no secret to sign with")
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
            "content-type": "application/json"}


# -- retries and disabling ----------------------------------------------------------------

# Standard Webhooks / Svix: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
DISABLE_AFTER = timedelta(days=5)


def should_disable(failing_since: datetime | None, now: datetime) -> bool:
    """An endpoint with no success since its first failure, which is over 5 days old."""
    return failing_since is not None and now - failing_since > DISABLE_AFTER


# -- URLs and addresses -------------------------------------------------------------------

MAX_URL_LEN = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused whatever ipaddress says about them (belt and braces across Python versions).
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
    "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10",
    "ff00::/8"))
LOOPBACK_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128"))
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Target:
    """A webhook URL split for the pinned connection."""

    scheme: str
    host: str  # lower-case hostname, or the canonical IP text (no brackets)
    port: int
    path: str  # path and query, at least "/"
    ip: IPAddress | None  # set when the URL names an IP literal

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if self.ip is not None and self.ip.version == 6 else self.host
        return host if self.port == default else f"{host}:{self.port}"


def is_public(ip: IPAddress, *, allow_loopback: bool = False) -> bool:
    """May a webhook connect to ``ip``? Only globally routable unicast addresses; IPv4-
    mapped/translated IPv6 forms are refused outright. ``allow_loopback`` (tests only)
    lets 127.0.0.0/8 and ::1 through, nothing else."""
    if allow_loopback and any(ip in n for n in LOOPBACK_NETWORKS if n.version == ip.version):
        return True
    if any(ip in n for n in BLOCKED_NETWORKS if n.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour
                                                   or ip.teredo):
        return False
    return bool(ip.is_global and not (ip.is_multicast or ip.is_unspecified
                                      or ip.is_reserved or ip.is_link_local))


def address_problem(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``ip`` is refused (None if it is allowed)."""
    if is_public(ip, allow_loopback=allow_loopback):
        return None
    kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local
            else "private" if ip.is_private else "non-public")
    return f"{ip} is a {kind} address"


def _ip_literal(host: str) -> IPAddress | None:
    """The IP a URL host names, refusing the ambiguous forms (decimal, hex, octal,
    shortened IPv4) that resolvers accept but readers misjudge."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            raise WebhookRuleError("invalid_url", "IPv6 zone identifiers are not allowed")
        return ip
    if _NUMERIC_HOST.match(host):
        try:
            socket.inet_aton(host)
        except OSError:
            pass
        else:
            raise WebhookRuleError("invalid_url", f"{host!r} is an IPv4 address in a "
                                   "non-standard form; write it as a.b.c.d")
    return None


def _host(host: str, *, allow_loopback: bool) -> tuple[str, IPAddress | None]:
    """The checked host (canonical IP text or IDNA name) and its IP when it is one."""
    ip = _ip_literal(host)
    if ip is not None:
        problem = address_problem(ip, allow_loopback=allow_loopback)
        if problem:
            raise WebhookRuleError("url_not_allowed", f"{problem}; webhooks only go to "
                                   "public addresses")
        return ip.compressed, ip
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise WebhookRuleError("invalid_url", "the host name is not valid") from exc
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in host.split(".")):
        raise WebhookRuleError("invalid_url", "the host name is not valid")
    if (host == "localhost" or host.endswith(".localhost")) and not allow_loopback:
        raise WebhookRuleError("url_not_allowed", "localhost is not a public address")
    return host, None


def check_url(url: str, *, require_https: bool, allow_loopback: bool = False) -> Target:
    """Parse and check a webhook URL; WebhookRuleError (code "invalid_url",
    "https_required" or "url_not_allowed") if it may not be used. Host names are checked
    again after resolution, at send time."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LEN:
        raise WebhookRuleError("invalid_url", f"give a URL of 1-{MAX_URL_LEN} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise WebhookRuleError("invalid_url", "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRuleError("invalid_url", f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRuleError("invalid_url", "the URL must start with https://")
    if scheme != "https" and require_https:
        raise WebhookRuleError("https_required", "webhook URLs must use https://")
    if "@" in parts.netloc:
        raise WebhookRuleError("invalid_url", "credentials in the URL are not allowed; "
                               "verify the signature instead")
    if parts.fragment or port == 0:
        raise WebhookRuleError("invalid_url", "the URL must have no #fragment and a real port")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise WebhookRuleError("invalid_url", "the URL has no host")
    host, ip = _host(host, allow_loopback=allow_loopback)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=host,
                  port=port if port is not None else (443 if scheme == "https" else 80),
                  path=path, ip=ip)
