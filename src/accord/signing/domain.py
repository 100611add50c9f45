"""Pure rules of signer authentication: factors, their order, what a sender may ask for,
one-time-code policy, lockouts and how a method is described on the certificate.

No database, no web framework, no clock (times are passed in), no randomness.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from accord.envelopes.domain import is_e164

EMAIL_LINK = "email_link"


class Factor(StrEnum):
    EMAIL_OTP = "email_otp"
    SMS_OTP = "sms_otp"
    ACCESS_CODE = "access_code"
    KBA = "kba"


# The order a signer passes the factors in. Possession (codes) comes before knowledge so
# that someone holding only a forwarded link cannot lock the real signer out by guessing
# access codes: the lockout is reachable only after a one-time code was passed.
ORDER: tuple[Factor, ...] = (Factor.EMAIL_OTP, Factor.SMS_OTP, Factor.ACCESS_CODE, Factor.KBA)
CHANNEL: dict[Factor, str] = {Factor.EMAIL_OTP: "email", Factor.SMS_OTP: "sms"}
SECRET_FACTORS = (Factor.ACCESS_CODE, Factor.KBA)

# One-time codes (OWASP ASVS 2.7 / 2.8)
CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
SEND_WINDOW = timedelta(hours=1)
SENDS_PER_RECIPIENT = 5  # per channel and recipient, per SEND_WINDOW
SENDS_PER_IP = 20  # per client IP address, per SEND_WINDOW
CODE_INVALID = "That code is not valid. Request a new one."

# Access code and knowledge-based questions
MAX_SECRET_FAILURES = 5
ACCESS_CODE_MIN = 6
ACCESS_CODE_MAX = 200
KBA_MAX_QUESTIONS = 5
KBA_QUESTION_MAX = 300
KBA_ANSWER_MAX = 200

# ITU-T E.164 country codes of two digits; "1" and "7" are the one-digit ones; all others
# have three. The codes are prefix-free, so this is enough to split off the country code.
_CC2 = frozenset({
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"})
MASK = "•••••"


class AuthRuleError(Exception):
    """A sender asked for an authentication setup that cannot work."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class AuthSpec:
    """A recipient's authentication, checked and normalised (secrets still in clear)."""

    factors: tuple[Factor, ...]
    phone: str | None
    access_code: str | None
    kba: tuple[tuple[str, str], ...]  # (question, normalised answer)

    @property
    def method(self) -> str:
        return method_of(self.factors)


def method_of(factors: Sequence[Factor]) -> str:
    """The stored ``auth_method``: "email_link" or the factors in ceremony order, "+"-joined."""
    ordered = [f for f in ORDER if f in factors]
    return "+".join(f.value for f in ordered) if ordered else EMAIL_LINK


def parse_method(method: str | None) -> tuple[Factor, ...]:
    """The factors of a stored ``auth_method``, in ceremony order (unknown parts ignored)."""
    parts = set((method or EMAIL_LINK).split("+"))
    return tuple(f for f in ORDER if f.value in parts)


def country_code(phone: str) -> str:
    digits = phone.lstrip("+")
    if digits[:1] in ("1", "7"):
        return digits[:1]
    return digits[:2] if digits[:2] in _CC2 else digits[:3]


def mask_phone(phone: str) -> str:
    """``+15550100123`` -> ``+1•••••0123``: country code and last four digits only."""
    return f"+{country_code(phone)}{MASK}{phone[-4:]}"


def mask_email(email: str) -> str:
    """``ann@customer.example`` -> ``a•••@customer.example``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def normalise_answer(text: str) -> str:
    """How KBA answers are compared: Unicode-normalised (NFKC), case-folded, punctuation
    removed, runs of whitespace collapsed to one space, ends trimmed.

    "  St. John's   Wood " and "st johns wood" are the same answer."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def check_request(*, role: str, factors: Sequence[str], phone: str | None,
                  access_code: str | None, kba: Sequence[tuple[str, str]]) -> AuthSpec:
    """Check what a sender asked for one recipient; raise AuthRuleError with a stable code."""
    chosen = _check_factors(factors, role)
    return AuthSpec(factors=chosen, phone=_check_phone(chosen, phone),
                    access_code=_check_access_code(chosen, access_code),
                    kba=_check_kba(chosen, kba))


def _check_factors(factors: Sequence[str], role: str) -> tuple[Factor, ...]:
    known = {f.value for f in Factor}
    for name in factors:
        if name not in known:
            raise AuthRuleError(f"unknown authentication factor {name!r}; use "
                                f"{', '.join(sorted(known))}", "invalid_auth_factor")
    if len(set(factors)) != len(factors):
        raise AuthRuleError("each authentication factor may be given once",
                            "duplicate_auth_factor")
    chosen = tuple(f for f in ORDER if f.value in factors)
    if chosen and role == "cc":
        raise AuthRuleError("cc recipients only get a copy and are not authenticated",
                            "auth_for_cc")
    return chosen


def _check_phone(chosen: Sequence[Factor], phone: str | None) -> str | None:
    phone = phone.strip() if phone is not None else None
    if Factor.SMS_OTP not in chosen:
        if phone:
            raise AuthRuleError("phone is only used with sms_otp", "phone_without_sms_otp")
        return None
    if not phone:
        raise AuthRuleError("sms_otp needs the recipient's phone number", "phone_required")
    if not is_e164(phone):
        raise AuthRuleError("phone must be in E.164 form: + then 7-15 digits, e.g. "
                            "+15550100123", "invalid_phone")
    return phone


def _check_access_code(chosen: Sequence[Factor], access_code: str | None) -> str | None:
    if Factor.ACCESS_CODE not in chosen:
        if access_code is not None:
            raise AuthRuleError("access_code is only used with the access_code factor",
                                "access_code_without_factor")
        return None
    code = (access_code or "").strip()
    if len(code) < ACCESS_CODE_MIN:
        raise AuthRuleError(f"access_code needs at least {ACCESS_CODE_MIN} characters",
                            "access_code_too_short")
    if len(code) > ACCESS_CODE_MAX:
        raise AuthRuleError(f"access_code has at most {ACCESS_CODE_MAX} characters",
                            "access_code_too_long")
    return code


def _check_kba(chosen: Sequence[Factor],
               kba: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if Factor.KBA not in chosen:
        if kba:
            raise AuthRuleError("kba questions are only used with the kba factor",
                                "kba_without_factor")
        return ()
    if not 1 <= len(kba) <= KBA_MAX_QUESTIONS:
        raise AuthRuleError(f"kba needs 1-{KBA_MAX_QUESTIONS} questions", "kba_required")
    pairs: list[tuple[str, str]] = []
    for question, answer in kba:
        q = " ".join(question.split())
        if not 3 <= len(q) <= KBA_QUESTION_MAX:
            raise AuthRuleError(f"each kba question has 3-{KBA_QUESTION_MAX} characters",
                                "invalid_kba_question")
        a = normalise_answer(answer)
        if not a or len(answer) > KBA_ANSWER_MAX:
            raise AuthRuleError(f"each kba answer needs 1-{KBA_ANSWER_MAX} characters, "
                                f"not only punctuation", "invalid_kba_answer")
        pairs.append((q, a))
    if len({q.casefold() for q, _ in pairs}) != len(pairs):
        raise AuthRuleError("kba questions must differ", "duplicate_kba_question")
    return tuple(pairs)


def next_factor(required: Sequence[Factor], passed: set[str]) -> Factor | None:
    """The first factor, in ceremony order, the session has not passed yet."""
    for f in ORDER:
        if f in required and f.value not in passed:
            return f
    return None


# -- one-time codes ---------------------------------------------------------------------


def code_refusal(*, attempts: int, used: bool, superseded: bool, expires_at: datetime,
                 now: datetime) -> str | None:
    """Why a challenge cannot be answered any more (an audit reason), or None if it can.

    A code is valid strictly before ``expires_at`` (issued at + CODE_TTL)."""
    if superseded:
        return "superseded"
    if used:
        return "used"
    if attempts >= MAX_CODE_ATTEMPTS:
        return "too_many_attempts"
    if now >= expires_at:
        return "expired"
    return None


def clean_code(raw: str) -> str:
    """What the signer typed, without the spaces or dashes phones like to add."""
    return "".join(ch for ch in raw if ch not in " -\t")[:20]


def send_retry_at(sent_at: Sequence[datetime], limit: int) -> datetime | None:
    """When another code may be sent, given the send times inside the window, or None if
    one may be sent now (fewer than ``limit`` in the window)."""
    if len(sent_at) < limit:
        return None
    return sorted(sent_at)[len(sent_at) - limit] + SEND_WINDOW


# -- lockout of secret factors (access code, KBA) ----------------------------------------


def failures(config: Mapping[str, Any], nonce: str | None, factor: Factor) -> int:
    """Wrong answers to ``factor`` since the recipient's current link was issued.

    Counters are kept with the link nonce they belong to: when the sender resends (a new
    link, a new nonce) the count starts again and a lockout ends."""
    counts = config.get("failures") or {}
    if counts.get("nonce") != nonce:
        return 0
    value = counts.get(factor.value, 0)
    return value if isinstance(value, int) else 0


def with_failure(config: Mapping[str, Any], nonce: str | None,
                 factor: Factor) -> dict[str, Any]:
    counts = dict(config.get("failures") or {})
    if counts.get("nonce") != nonce:
        counts = {"nonce": nonce}
    counts[factor.value] = failures(config, nonce, factor) + 1
    return {**config, "failures": counts}


def with_success(config: Mapping[str, Any], nonce: str | None,
                 factor: Factor) -> dict[str, Any]:
    counts = dict(config.get("failures") or {})
    if counts.get("nonce") != nonce or factor.value not in counts:
        return dict(config)
    counts[factor.value] = 0
    return {**config, "failures": counts}


def locked_by(config: Mapping[str, Any], nonce: str | None) -> Factor | None:
    """The secret factor that locked the recipient out of the current link, if any."""
    for f in SECRET_FACTORS:
        if failures(config, nonce, f) >= MAX_SECRET_FAILURES:
            return f
    return None


# -- describing a method ------------------------------------------------------------------


def describe(factors: Sequence[Factor], *, phone: str | None, kba_count: int = 0) -> str:
    """``email link + SMS code (+1•••••0123) + access code``."""
    parts = ["email link"]
    for f in ORDER:
        if f not in factors:
            continue
        if f is Factor.EMAIL_OTP:
            parts.append("email code")
        elif f is Factor.SMS_OTP:
            parts.append(f"SMS code ({mask_phone(phone)})" if phone else "SMS code")
        elif f is Factor.ACCESS_CODE:
            parts.append("access code")
        else:
            parts.append(f"knowledge questions ({kba_count})" if kba_count else
                         "knowledge questions")
    return " + ".join(parts)


def certificate_line(factors: Sequence[Factor], *, phone: str | None, kba_count: int,
                     passed_at: datetime | None) -> str:
    """The certificate's authentication line: the method and when every factor was passed
    (``...; passed 2026-11-21 19:42 UTC``). A link alone has no "passed" time."""
    text = describe(factors, phone=phone, kba_count=kba_count)
    if not factors:
        return text
    if passed_at is None:
        return f"{text}; not passed"
    return f"{text}; passed {passed_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC"
