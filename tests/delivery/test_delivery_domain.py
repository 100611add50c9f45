"""Pure rules: email values, retry schedule, error text, handler registry (no database)."""

from __future__ import annotations

import pytest

from accord import errors
from accord.delivery import handlers
from accord.delivery.domain import MAX_ERROR_LEN, backoff_s, describe_error, is_final_attempt
from accord.delivery.errors import (
    DeliveryError,
    InvalidEmail,
    InvalidState,
    NotFound,
    PermanentFailure,
    UnknownKind,
)
from accord.delivery.mail import Attachment, Email, message_id_header


def test_email_payload_round_trip() -> None:
    email = Email(to=("Ann <ann@example.com>", "bob@example.com", '"Doe, Jo" <jo@example.com>'),
                  subject="Please sign", body="text", html="<p>html</p>",
                  attachments=(Attachment("a.pdf", "application/pdf", "ab" * 32),))
    payload = email.to_payload()
    assert payload["attachments"] == [
        {"filename": "a.pdf", "content_type": "application/pdf", "blob": "ab" * 32}]
    assert Email.from_payload(payload) == email
    assert Email(to=["a@example.com"], subject="s", body="b").to == ("a@example.com",)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"to": ()},
    {"to": ("not-an-address",)},
    {"to": ("a@example.com, b@example.com",)},
    {"to": ("a@example.com\r\nBcc: x@evil.example",)},
    {"subject": "hi\nBcc: x@evil.example"},
])
def test_email_rejects_bad_headers(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"to": ("a@example.com",), "subject": "s", "body": "b"}
    with pytest.raises(InvalidEmail):
        Email(**{**base, **kwargs})  # type: ignore[arg-type]


def test_email_from_malformed_payload_is_permanent() -> None:
    with pytest.raises(PermanentFailure):
        Email.from_payload({"to": "a@example.com", "subject": "s", "body": "b"})
    with pytest.raises(PermanentFailure):
        Email.from_payload({"subject": "s"})
    with pytest.raises(PermanentFailure):
        Email.from_payload({"to": ["a@example.com"], "subject": "s", "body": "b",
                            "attachments": [{"filename": "x"}]})


def test_attachment_rejects_bad_content_type() -> None:
    with pytest.raises(InvalidEmail):
        Attachment("a.pdf", "pdf", "ab" * 32)


def test_message_id_is_stable_and_derived_from_the_outbox_id() -> None:
    assert message_id_header("abc-1", "Accord <accord@mail.example>") == "<abc-1@mail.example>"
    with pytest.raises(ValueError, match="token"):
        message_id_header("a b", "accord@localhost")


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n, base_s=2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_s(40, base_s=2.0) == 3600.0
    assert backoff_s(10_000, base_s=2.0) == 3600.0
    assert backoff_s(1, base_s=10.0, jitter=0.1, rand=0.5) == pytest.approx(10.5)
    with pytest.raises(ValueError, match="attempts"):
        backoff_s(0, base_s=1.0)


def test_final_attempt() -> None:
    assert not is_final_attempt(2, 3)
    assert is_final_attempt(3, 3)
    assert is_final_attempt(1, 0)


def test_describe_error_hides_links_and_secrets_and_truncates() -> None:
    exc = RuntimeError("open https://sign.example/s/tok3n?x=1 with hunter2 now")
    text = describe_error(exc, secrets=["hunter2"])
    assert text == "RuntimeError: open <url> with <redacted> now"
    assert len(describe_error(RuntimeError("x" * 5000))) == MAX_ERROR_LEN
    assert describe_error(KeyError()) == "KeyError"


def test_registry() -> None:
    def handler(_rt: object, _payload: dict[str, object]) -> None:
        return None

    handlers.register("test:registry", handler)
    try:
        handlers.register("test:registry", handler)  # same handler again: fine
        assert handlers.get("test:registry") is handler
        assert "test:registry" in handlers.kinds()
        with pytest.raises(DeliveryError, match="already registered"):
            handlers.register("test:registry", lambda _rt, _p: None)
    finally:
        handlers.unregister("test:registry")
    with pytest.raises(UnknownKind):
        handlers.get("test:registry")
    with pytest.raises(DeliveryError):
        handlers.register("x" * 41, handler)
    with pytest.raises(DeliveryError):
        handlers.unregister("email")
    assert "email" in handlers.kinds()


def test_errors_join_the_house_hierarchy() -> None:
    assert issubclass(NotFound, errors.NotFound)
    assert NotFound("x").status == 404
    assert InvalidState("x").status == 409
    assert InvalidEmail("x").status == 422
    assert issubclass(InvalidEmail, PermanentFailure)
    assert issubclass(UnknownKind, PermanentFailure)
    assert str(UnknownKind("nope")) == "unknown kind"
