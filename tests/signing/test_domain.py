"""The pure rules of signer authentication and its crypto helpers (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from accord.envelopes.domain import is_e164
from accord.signing import crypto, domain
from accord.signing.domain import AuthRuleError, Factor

NOW = datetime(2026, 11, 21, 19, 42, 10, tzinfo=UTC)


@pytest.mark.parametrize(("given", "stored"), [
    ("St. John's  Wood", "st johns wood"),
    ("  REX!  ", "rex"),
    ("Straße", "strasse"),
    ("Jean-Luc", "jeanluc"),
    ("ＦＵＬＬ width", "full width"),
    ("new\tyork\ncity", "new york city"),
])
def test_kba_answers_are_normalised(given: str, stored: str) -> None:
    assert domain.normalise_answer(given) == stored


@pytest.mark.parametrize(("phone", "masked"), [
    ("+15550100123", "+1•••••0123"),
    ("+447700900123", "+44•••••0123"),
    ("+35312345678", "+353•••••5678"),
    ("+79161234567", "+7•••••4567"),
])
def test_phones_are_masked_to_country_code_and_last_four(phone: str, masked: str) -> None:
    assert is_e164(phone)
    assert domain.mask_phone(phone) == masked


@pytest.mark.parametrize("phone", ["5550100123", "+1 555 010 0123", "+0123456789", "+12345",
                                   "+1234567890123456", "+1555O100123"])
def test_not_e164(phone: str) -> None:
    assert not is_e164(phone)


def test_factors_are_kept_in_ceremony_order() -> None:
    spec = domain.check_request(role="signer", factors=["kba", "sms_otp", "access_code"],
                                phone=" +15550100123 ", access_code=" 123456 ",
                                kba=[("  Pet? name ", "Rex")])
    assert spec.method == "sms_otp+access_code+kba"
    assert spec.phone == "+15550100123" and spec.access_code == "123456"
    assert spec.kba == (("Pet? name", "rex"),)
    assert domain.parse_method(spec.method) == (Factor.SMS_OTP, Factor.ACCESS_CODE, Factor.KBA)
    assert domain.parse_method("email_link") == ()
    assert domain.next_factor(domain.parse_method(spec.method), {"sms_otp"}) is \
        Factor.ACCESS_CODE


def test_duplicate_kba_questions_are_refused() -> None:
    with pytest.raises(AuthRuleError) as exc:
        domain.check_request(role="signer", factors=["kba"], phone=None, access_code=None,
                             kba=[("Pet?", "a"), ("pet?", "b")])
    assert exc.value.code == "duplicate_kba_question"


def test_code_refusals() -> None:
    expires = NOW + domain.CODE_TTL
    ok: dict[str, Any] = {"attempts": 0, "used": False, "superseded": False,
                          "expires_at": expires}
    assert domain.code_refusal(**ok, now=expires - timedelta(seconds=1)) is None
    assert domain.code_refusal(**ok, now=expires) == "expired"
    assert domain.code_refusal(**{**ok, "attempts": 5}, now=NOW) == "too_many_attempts"
    assert domain.code_refusal(**{**ok, "used": True}, now=NOW) == "used"
    assert domain.code_refusal(**{**ok, "superseded": True}, now=NOW) == "superseded"
    assert domain.clean_code(" 123-456 ") == "123456"


def test_send_caps() -> None:
    sent = [NOW + timedelta(minutes=i) for i in range(4)]
    assert domain.send_retry_at(sent, 5) is None
    assert domain.send_retry_at([*sent, NOW + timedelta(minutes=9)], 5) == \
        NOW + domain.SEND_WINDOW


def test_lockout_counts_belong_to_the_link() -> None:
    config: dict[str, Any] = {"access_code": "hash"}
    for _ in range(4):
        config = domain.with_failure(config, "nonce-1", Factor.ACCESS_CODE)
    assert domain.locked_by(config, "nonce-1") is None
    config = domain.with_failure(config, "nonce-1", Factor.ACCESS_CODE)
    assert domain.locked_by(config, "nonce-1") is Factor.ACCESS_CODE
    assert domain.locked_by(config, "nonce-2") is None  # the sender resent
    assert domain.failures(domain.with_failure(config, "nonce-2", Factor.KBA), "nonce-2",
                           Factor.ACCESS_CODE) == 0
    assert config["access_code"] == "hash"


def test_certificate_lines() -> None:
    factors = (Factor.SMS_OTP, Factor.ACCESS_CODE)
    assert domain.certificate_line(factors, phone="+15550100123", kba_count=0,
                                   passed_at=NOW) == (
        "email link + SMS code (+1•••••0123) + access code; passed 2026-11-21 19:42 UTC")
    assert domain.certificate_line((), phone=None, kba_count=0, passed_at=None) == \
        "email link"
    assert domain.certificate_line((Factor.EMAIL_OTP, Factor.KBA), phone=None, kba_count=2,
                                   passed_at=None) == (
        "email link + email code + knowledge questions (2); not passed")


@pytest.fixture
def crypto_rt(tmp_path: Path) -> Any:
    return SimpleNamespace(secret_key=b"k" * 32)


def test_codes_are_six_random_digits() -> None:
    codes = {crypto.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190


def test_code_macs_are_bound_to_challenge_envelope_and_recipient(crypto_rt: Any) -> None:
    ids = {"challenge_id": "c1", "envelope_id": "e1", "recipient_id": "r1"}
    mac = crypto.code_mac(crypto_rt, **ids, code="123456")
    assert "123456" not in mac
    assert crypto.code_matches(crypto_rt, mac, **ids, code="123456")
    assert not crypto.code_matches(crypto_rt, mac, **ids, code="123457")
    for name in ids:
        assert not crypto.code_matches(crypto_rt, mac, **{**ids, name: "other"},
                                       code="123456")


def test_sealed_codes_open_only_in_their_context(crypto_rt: Any) -> None:
    sealed = crypto.seal(crypto_rt, "123456", context="sms:signer_code:c1")
    assert "123456" not in sealed
    assert crypto.unseal(crypto_rt, sealed, context="sms:signer_code:c1") == "123456"
    with pytest.raises(crypto.SealError):
        crypto.unseal(crypto_rt, sealed, context="sms:signer_code:c2")
    with pytest.raises(crypto.SealError):
        crypto.unseal(crypto_rt, "not base64!", context="sms:signer_code:c1")


def test_secret_hashes() -> None:
    stored = crypto.hash_secret("open-sesame")
    assert crypto.secret_matches(stored, "open-sesame")
    assert not crypto.secret_matches(stored, "open-sesamE")
    assert not crypto.secret_matches(None, "open-sesame")
    assert not crypto.secret_matches("not a hash", "open-sesame")
