"""Signing-link tokens are redacted from access logs."""

from __future__ import annotations

import logging

from accord.logs import RedactTokens, redact


def test_access_log_arguments_are_redacted() -> None:
    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                            '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:5", "GET", "/s/AbC-12_x?q=1", "1.1", 303), None)
    assert RedactTokens().filter(rec)
    assert "AbC-12_x" not in rec.getMessage()
    assert "/s/[redacted]" in rec.getMessage()
    assert redact("/sign/documents/x") == "/sign/documents/x"
