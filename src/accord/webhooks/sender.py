"""The SSRF-safe webhook sender.

One POST, done like this:

1. the URL is checked again (scheme, no credentials, no ambiguous IP forms);
2. the host is resolved once (``getaddrinfo``) and the request is refused unless EVERY
   resolved address is public (``webhooks.domain.is_public``) - a name that also resolves
   to 10.0.0.1 is refused even if another of its addresses is public;
3. httpx connects to the first resolved address itself (the URL's host is replaced by the
   IP), so a second, different DNS answer cannot redirect the connection ("DNS
   rebinding"); the ``Host`` header and the TLS SNI name (httpcore's ``sni_hostname``
   extension) stay the original host name, and the certificate is verified against it;
4. redirects are not followed (a 3xx is a failed attempt), proxies from the environment are
   ignored, timeouts are short and at most ``MAX_RESPONSE_BYTES`` of the answer are read.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import httpx

from accord import __version__
from accord.webhooks.domain import (
    IPAddress,
    Target,
    WebhookRuleError,
    address_problem,
    check_url,
)

MAX_RESPONSE_BYTES = 4096
MAX_EXCERPT_CHARS = 500
USER_AGENT = f"Accord-Webhooks/{__version__}"

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (TCP), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for *_, sockaddr in infos:
        addr = str(sockaddr[0])
        if addr not in seen:
            seen.append(addr)
    return seen


# Tests replace this (mock the resolver, not the network).
resolve_host: Resolver = system_resolver


@dataclass(frozen=True)
class Policy:
    """What the sender allows; built from settings (``ACCORD_WEBHOOK_*``)."""

    require_https: bool = True
    allow_loopback: bool = False
    connect_timeout_s: float = 5.0
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Outcome:
    """One delivery attempt as the deliveries list shows it."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    address: str | None  # the pinned IP the connection went to
    response_excerpt: str = ""


class Refused(Exception):
    """The request was not made: the URL or a resolved address is not allowed."""


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def pin(target: Target, policy: Policy) -> IPAddress:
    """The address to connect to: the literal IP, or the first resolved address when
    every resolved address is allowed. Raises Refused."""
    if target.ip is not None:
        problem = address_problem(target.ip, allow_loopback=policy.allow_loopback)
        if problem:
            raise Refused(f"address not allowed: {problem}")
        return target.ip
    try:
        answers = resolve_host(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"cannot resolve {target.host}: {exc}") from exc
    if not answers:
        raise Refused(f"{target.host} has no address")
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            ip = ipaddress.ip_address(answer.split("%", 1)[0])
        except ValueError as exc:
            raise Refused(f"{target.host} resolved to {answer!r}") from exc
        problem = address_problem(ip, allow_loopback=policy.allow_loopback)
        if problem:
            raise Refused(f"address not allowed: {target.host} resolves to {problem}")
        addresses.append(ip)
    return addresses[0]


def _pinned_url(target: Target, ip: IPAddress) -> str:
    host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{target.scheme}://{host}:{target.port}{target.path}"


def _elapsed_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def post(url: str, body: bytes, headers: dict[str, str], policy: Policy) -> Outcome:
    """POST ``body`` to ``url`` under ``policy``. Never raises for network trouble: the
    outcome says what happened. 2xx is success; anything else (3xx included) is not."""
    start = time.monotonic()
    try:
        target = check_url(url, require_https=policy.require_https,
                           allow_loopback=policy.allow_loopback)
        ip = pin(target, policy)
    except WebhookRuleError as exc:
        return Outcome(False, None, f"address not allowed: {exc.message}",
                       _elapsed_ms(start), None)
    except Refused as exc:
        return Outcome(False, None, str(exc), _elapsed_ms(start), None)
    timeout = httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s)
    send_headers = {**headers, "host": target.host_header, "user-agent": USER_AGENT,
                    "accept-encoding": "identity"}
    extensions = {"sni_hostname": target.host} if target.ip is None else {}
    deadline = start + policy.connect_timeout_s + policy.timeout_s
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False,
                          verify=_tls()) as client, client.stream(
                "POST", _pinned_url(target, ip), content=body, headers=send_headers,
                extensions=extensions) as response:
            raw = bytearray()
            for chunk in response.iter_raw():
                raw += chunk
                if len(raw) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    break
            status = response.status_code
    except httpx.TimeoutException as exc:
        return Outcome(False, None, f"timed out ({type(exc).__name__})",
                       _elapsed_ms(start), ip.compressed)
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        detail = str(exc) or type(exc).__name__
        return Outcome(False, None, f"connection failed: {detail}"[:300],
                       _elapsed_ms(start), ip.compressed)
    excerpt = bytes(raw[:MAX_RESPONSE_BYTES]).decode("utf-8", "replace")[:MAX_EXCERPT_CHARS]
    duration = _elapsed_ms(start)
    if 200 <= status < 300:
        return Outcome(True, status, None, duration, ip.compressed, excerpt)
    error = f"HTTP {status}" + (": redirect not followed" if 300 <= status < 400 else "")
    return Outcome(False, status, error, duration, ip.compressed, excerpt)
