"""Pure webhook rules: Standard Webhooks signatures (checked with the `standardwebhooks`
library), the retry schedule, event filters, disabling, and the URL/address policy."""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from accord.webhooks.domain import (
    EVENT_TYPES,
    RETRY_SCHEDULE_S,
    TAG_EVENTS,
    WebhookRuleError,
    check_url,
    format_secret,
    is_public,
    normalise_filters,
    payload,
    should_disable,
    sign,
    signed_headers,
    wants,
)


def _secret() -> str:
    return format_secret(secrets.token_bytes(32))


def _message() -> tuple[str, str]:
    body = json.dumps(payload("envelope.sent", {"envelope_id": "e1", "envelope_status": "sent"},
                              datetime.now(UTC)), separators=(",", ":"))
    return "msg_" + secrets.token_hex(16), body


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = _secret()
    msg_id, body = _message()
    headers = signed_headers([secret], msg_id, int(time.time()), body)
    assert headers["webhook-id"] == msg_id
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_signature_is_hmac_sha256_of_id_timestamp_body() -> None:
    raw = bytes(range(32))
    secret = format_secret(raw)
    assert secret.startswith("whsec_")
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(raw, b"msg_1.1700000000.{}", hashlib.sha256)
                                .digest()).decode()
    assert sign(secret, "msg_1", 1700000000, "{}") == f"v1,{expected}"


def test_tampered_body_is_refused_by_standardwebhooks() -> None:
    secret = _secret()
    msg_id, body = _message()
    headers = signed_headers([secret], msg_id, int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("sent", "void"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret()).verify(body, headers)  # another endpoint's secret


def test_old_timestamp_is_refused_by_standardwebhooks() -> None:
    secret = _secret()
    msg_id, body = _message()
    old = int(time.time()) - 600
    headers = signed_headers([secret], msg_id, old, body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, headers)
    headers["webhook-timestamp"] = str(int(time.time()))  # a fresh stamp on an old signature
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_rotation_signs_with_both_secrets() -> None:
    new, old = _secret(), _secret()
    msg_id, body = _message()
    headers = signed_headers([new, old], msg_id, int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers)
    assert Webhook(old).verify(body, headers)


def test_retry_schedule_is_standard_webhooks() -> None:
    assert RETRY_SCHEDULE_S == (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600,
                                10 * 3600)


def test_disable_after_five_days_of_failure() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert not should_disable(None, t0 + timedelta(days=30))
    assert not should_disable(t0, t0 + timedelta(days=5))
    assert should_disable(t0, t0 + timedelta(days=5, seconds=1))


def test_filters() -> None:
    assert normalise_filters(None) == []
    assert normalise_filters(["recipient.signed", "envelope.sent", "envelope.sent"]) == [
        "envelope.sent", "recipient.signed"]
    with pytest.raises(WebhookRuleError) as exc:
        normalise_filters(["envelope.sigend"])
    assert exc.value.code == "unknown_event_type"
    with pytest.raises(WebhookRuleError):
        normalise_filters(["webhook.test"])
    assert wants([], "envelope.sent")
    assert wants(["envelope.sent"], "envelope.sent")
    assert not wants(["envelope.completed"], "envelope.sent")


def test_every_mapped_tag_is_a_known_event() -> None:
    assert set(TAG_EVENTS.values()) <= set(EVENT_TYPES)
    assert {"envelope.sent", "envelope.delivered", "envelope.completed", "envelope.declined",
            "envelope.voided", "envelope.expired", "recipient.viewed", "recipient.signed",
            "recipient.declined", "bulk_batch.finished"} <= set(EVENT_TYPES)


BLOCKED_HOSTS = [
    "127.0.0.1", "127.255.0.9", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254",
    "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0",
    "224.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fc00::1]", "[fd12:3456::1]",
    "[fe80::1]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::ffff:8.8.8.8]",
    "[64:ff9b::a00:1]", "[2002:a00:1::1]", "[ff02::1]",
]
OBSCURE_FORMS = ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "017700000001",
                 "10.1", "3232235777"]


@pytest.mark.parametrize("host", BLOCKED_HOSTS)
def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(WebhookRuleError) as exc:
        check_url(f"https://{host}/hook", require_https=True)
    assert exc.value.code == "url_not_allowed"


@pytest.mark.parametrize("host", OBSCURE_FORMS)
def test_decimal_hex_octal_and_short_ipv4_forms_are_refused(host: str) -> None:
    with pytest.raises(WebhookRuleError) as exc:
        check_url(f"https://{host}/hook", require_https=True)
    assert exc.value.code == "invalid_url"
    assert "non-standard" in exc.value.message


@pytest.mark.parametrize("url", [
    "", "hooks.example.com/x", "ftp://hooks.example.com/", "https://", "https:///path",
    "https://user:pw@hooks.example.com/", "https://hooks.example.com/#frag",
    "https://hooks.example.com:0/", "https://hooks.example.com:99999/",
    " https://hooks.example.com/", "https://hooks.exa mple.com/", "https://-bad-.example/",
    "https://hooks.example.com/\n", "javascript:alert(1)", "https://[::1%25eth0]/",
    "https://" + "a" * 2000 + ".com/",
])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookRuleError) as exc:
        check_url(url, require_https=True)
    assert exc.value.code in ("invalid_url", "url_not_allowed")


def test_https_required_unless_configured() -> None:
    with pytest.raises(WebhookRuleError) as exc:
        check_url("http://hooks.example.com/", require_https=True)
    assert exc.value.code == "https_required"
    assert check_url("http://hooks.example.com/", require_https=False).port == 80


def test_localhost_names_are_refused() -> None:
    for host in ("localhost", "LOCALHOST.", "api.localhost"):
        with pytest.raises(WebhookRuleError):
            check_url(f"https://{host}/", require_https=True)


def test_public_urls_pass_and_split() -> None:
    t = check_url("https://Hooks.Example.com:8443/in?x=1", require_https=True)
    assert (t.scheme, t.host, t.port, t.path, t.ip) == (
        "https", "hooks.example.com", 8443, "/in?x=1", None)
    assert t.host_header == "hooks.example.com:8443"
    t = check_url("https://93.184.216.34/", require_https=True)
    assert t.ip == ipaddress.ip_address("93.184.216.34")
    assert t.host_header == "93.184.216.34"
    t = check_url("https://[2606:4700::1111]/x", require_https=True)
    assert t.host_header == "[2606:4700::1111]"


def test_loopback_only_through_the_test_setting() -> None:
    assert not is_public(ipaddress.ip_address("127.0.0.1"))
    assert is_public(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert is_public(ipaddress.ip_address("::1"), allow_loopback=True)
    # the test setting opens loopback, nothing else
    for other in ("10.0.0.1", "192.168.0.1", "169.254.169.254", "::ffff:127.0.0.1"):
        assert not is_public(ipaddress.ip_address(other), allow_loopback=True)
    assert check_url("http://127.0.0.1:8080/", require_https=False,
                     allow_loopback=True).port == 8080


def test_payload_shape() -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    body = payload("envelope.sent", {"envelope_id": "e1"}, at)
    assert body == {"type": "envelope.sent", "timestamp": "2026-03-01T12:00:00Z",
                    "data": {"envelope_id": "e1"}}
